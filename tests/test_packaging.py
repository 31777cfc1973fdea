"""What a team installs: the wheel holds the bot, the core and storage, never the sandbox or the tests."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_bot_finetune_and_storage_only(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(CHECKOUT)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("finetune_bot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert top == {"bot", "finetune", "storage"}
    assert "storage/migrations/versions/0005_typed_authors_and_unserved_models.py" in names
    assert not any("clock" in n and "Manual" in n for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    assert not any("websockets" in line and "extra" not in line for line in requires)  # the stand-ins' server is not a runtime need
    local = [line for line in requires if 'extra == "local"' in line]
    assert {line.split()[1].split(">")[0].split("<")[0] for line in local} >= {"torch", "transformers", "peft", "trl", "datasets"}
    assert not any("torch" in line and "extra" not in line for line in requires)  # the bot runs without the training stack
