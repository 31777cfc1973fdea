"""`finetune-bot validate FILE`: a person checks a training file before anyone uploads it; exit 0 means usable."""
from __future__ import annotations

import json

from bot.cli import main
from tests.support.training_files import chat, good_rows, jsonl


def env_for(tmp_path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "LOG_LEVEL": "WARNING", **extra}


def test_a_usable_file_exits_0_with_its_report_and_touches_no_database(tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(*good_rows(12)))
    assert main(["validate", str(path)], env=env_for(tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"{path}: chat, 12 line(s); usable: 0 error(s), 0 warning(s)" in out
    assert "Statistics (o200k_base, exact counts, model gpt-4.1-mini-2025-04-14)" in out
    assert "estimated cost: $" in out and "at $5.00 per 1M training tokens" in out
    assert not (tmp_path / "bot.db").exists()


def test_an_unusable_file_exits_1_and_json_lists_each_problem_by_line(tmp_path, capsys):
    path = tmp_path / "hand-written.jsonl"
    path.write_text(jsonl(*good_rows(10), "{not json", {"messages": [{"role": "user", "content": "q"}]}, good_rows()[0]))
    assert main(["validate", str(path), "--json"], env=env_for(tmp_path)) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] is False and report["examples"] == 11
    assert [(e["line"], e["kind"]) for e in report["errors"]] == [(11, "invalid_json"), (12, "no_assistant_message")]
    assert report["warnings"] == [{"kind": "duplicate", "line": 13, "detail": "the same example as line 1"}]


def test_warnings_alone_leave_a_file_usable(tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(*good_rows(10), good_rows()[2]))
    assert main(["validate", str(path), "--json"], env=env_for(tmp_path)) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"duplicate": 1}


def test_the_model_and_the_price_table_can_be_chosen(tmp_path, capsys):
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(*[chat(f"q{i}", "tiktoken is great!") for i in range(10)]))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4": 30.0}))
    assert main(["validate", str(path), "--json", "--model", "gpt-4-0613"],
                env=env_for(tmp_path, FINETUNE_PRICES_FILE=str(prices))) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["encoding"] == "cl100k_base" and report["price_per_million_tokens_usd"] == 30.0
    assert report["estimated_cost_usd"] == report["billed_tokens"] * 30.0 / 1_000_000


def test_a_missing_file_or_a_bad_price_file_is_one_clear_line(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.jsonl")], env=env_for(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"finetune-bot validate: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory"
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(*good_rows(10)))
    assert main(["validate", str(path)], env=env_for(tmp_path, FINETUNE_PRICES_FILE=str(tmp_path / "missing.json"))) == 2
    err = capsys.readouterr().err
    assert "FINETUNE_PRICES_FILE=" in err and "cannot be read" in err and "Traceback" not in err
