"""`python -m sandbox --demo`: a terminal with no browser still sees the whole loop."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sandbox.demo import PRODUCTS


def test_the_demo_plays_the_loop_and_ends_with_the_fine_tuned_model(tmp_path):
    checkout = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "sandbox", "--demo"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(checkout)})
    transcript = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert transcript.count("finetune-bot [gpt-4.1-mini-2025-04-14]: Here is a balanced review") == 11
    assert transcript.count("alice reacted :+1:") == 10
    assert "Approved examples: 10 in total, 10 not yet trained on" in transcript
    assert re.search(r"Fine-tuning job `ftjob-\w+` started on `gpt-4.1-mini-2025-04-14` with 10 approved examples", transcript)
    model = re.search(r":tada: `(ft:gpt-4.1-mini-2025-04-14:sandbox-org:sandbox:\w+)` is now answering, "
                      r"served by [^,]+, trained on 10 examples",
                      transcript).group(1)
    last = transcript.strip().splitlines()
    assert last[-1] == "The loop is closed: the last reply came from the fine-tuned model."
    after = next(line for line in last if line.startswith("after:"))
    # The taught style, about the product asked for, not another product's review nor the base model's.
    assert after.startswith(f"after:  [{model}] ") and "noise-cancelling headphone" in after
    assert "!" in after and re.search(r"\b[A-Z]{3,}\b", after.split("] ", 1)[1])
    assert "balanced review" not in after and "Pros:" not in after
    assert not any(product.split(" ", 1)[1].lower() in after.lower() for product in PRODUCTS)
    assert not (tmp_path / "data").exists()  # the demo keeps nothing behind
    assert "Traceback" not in done.stderr


def test_the_installed_bot_points_to_the_sandbox_instead_of_running_it(tmp_path):
    script = Path(sys.executable).with_name("finetune-bot")
    done = subprocess.run([str(script), "sandbox", "--demo"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "python -m sandbox" in done.stderr and "make run" in done.stderr
    assert not (tmp_path / "data").exists()


def test_the_demo_reads_the_model_from_the_reply_metadata_not_its_text():
    from sandbox.demo import _model

    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text": "Answered by `gpt-named-in-the-text`"}]}
    metadata = {"event_type": "finetune_bot_reply",
                "event_payload": {"reply_id": 7, "model": "ft:gpt-from-metadata:sandbox", "author": "model"}}
    assert _model({"blocks": [footer], "metadata": metadata}) == "ft:gpt-from-metadata:sandbox"
    assert _model({"blocks": [footer]}) == "?"
