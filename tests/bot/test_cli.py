"""finetune-bot's other commands: status, export, migrate, and what run says without credentials."""
from __future__ import annotations

import json

from bot.cli import main
from tests.bot.conftest import PRODUCTS, wait_for_approved


def env_for(stack) -> dict[str, str]:
    return {"DATABASE_URL": stack.database_url, "LOG_LEVEL": "WARNING"}


def test_status_and_export_read_the_same_database_as_the_bot(stack, capsys, tmp_path):
    for product in PRODUCTS[:2]:
        stack.approve(stack.ask(f"Review this product: {product}"))
    stack.ask("Review this product: an unapproved thing")
    wait_for_approved(stack, 2)

    assert main(["status"], env=env_for(stack)) == 0
    assert "Approved examples: 2 in total, 2 not yet trained on" in capsys.readouterr().out

    target = tmp_path / "out" / "examples.jsonl"
    assert main(["export", str(target)], env=env_for(stack)) == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["messages"][1]["content"] for line in lines] == [f"Review this product: {p}" for p in PRODUCTS[:2]]
    assert "2 example(s) written" in capsys.readouterr().err

    assert main(["export", "-"], env=env_for(stack)) == 0
    assert capsys.readouterr().out == target.read_text()


def test_migrate_reports_the_revision(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["migrate"], env={"DATABASE_URL": url}) == 0
    assert "is at revision 0004" in capsys.readouterr().out


def test_bad_settings_are_named_and_nothing_starts(tmp_path, capsys):
    code = main(["run"], env={"SLACK_BOT_TOKEN": "xoxb-1", "FINETUNE_POLL_SECONDS": "soon",
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    err = capsys.readouterr().err
    assert code == 2
    assert "FINETUNE_POLL_SECONDS='soon' is not a number of seconds" in err
    assert "OPENAI_API_KEY is not set" in err
    assert not (tmp_path / "x.db").exists()
