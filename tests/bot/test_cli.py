"""finetune-bot's other commands: status, export, migrate, and what run says without credentials."""
from __future__ import annotations

import json

from bot.cli import main
from tests.support.products import PRODUCTS
from tests.support.slack import wait_for_approved


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
    err = capsys.readouterr().err
    assert "2 example(s) written" in err
    # the validation report the upload step would act on goes beside the file
    report = (tmp_path / "out" / "examples.report.txt").read_text()
    assert report.startswith(f"{target}: chat, 2 line(s); NOT usable")
    assert "2 usable example(s): at least 10 are needed" in report and "o200k_base, exact counts" in report
    assert "validation: NOT usable (2 usable example(s): at least 10 are needed)" in err

    assert main(["export", "-"], env=env_for(stack)) == 0
    assert capsys.readouterr().out == target.read_text()


def test_migrate_reports_the_revision(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["migrate"], env={"DATABASE_URL": url}) == 0
    assert "is at revision 0010" in capsys.readouterr().out


def test_bad_settings_are_named_and_nothing_starts(tmp_path, capsys):
    code = main(["run"], env={"SLACK_BOT_TOKEN": "xoxb-1", "FINETUNE_POLL_SECONDS": "soon",
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    err = capsys.readouterr().err
    assert code == 2
    assert "FINETUNE_POLL_SECONDS='soon' is not a number of seconds" in err
    assert "OPENAI_API_KEY is not set" in err
    assert not (tmp_path / "x.db").exists()


def test_run_without_slack_credentials_fails_closed_and_names_what_to_set(tmp_path, capsys):
    code = main(["run"], env={"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "OPENAI_API_KEY": "sk-test-123456"})
    err = capsys.readouterr().err
    assert code == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "python -m sandbox", "make run"):
        assert name in err
    assert not (tmp_path / "bot.db").exists()  # nothing started, nothing created
    assert not (tmp_path / "data").exists()


def test_status_and_export_refuse_to_create_a_database_and_say_which_they_read(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "data" / "finetune-bot.db"
    for argv in (["status"], ["export", "-"]):
        assert main(argv, env={"LOG_LEVEL": "WARNING"}) == 1
        err = capsys.readouterr().err
        assert "there is no database at sqlite:///data/finetune-bot.db" in err and "none was created" in err
        assert "data/sandbox.db" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()


def test_status_on_an_unmigrated_database_says_so_and_leaves_it_alone(tmp_path, capsys):
    from storage.db import Database

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Database(url).engine.connect().close()  # an empty SQLite file
    assert main(["status"], env={"DATABASE_URL": url}) == 1
    assert "has no finetune-bot tables yet" in capsys.readouterr().err
    assert Database(url).current_revision() is None


def test_status_names_the_database_it_read(stack, capsys):
    assert main(["status"], env=env_for(stack)) == 0
    out = capsys.readouterr().out
    from storage.db import safe_url

    assert out.splitlines()[0] == f"Database: {safe_url(stack.database_url)}"


def test_a_malformed_database_url_is_never_echoed(tmp_path, capsys):
    for url in ("postgres//admin:hunter2-secret@db.internal/bot", "mysql://admin:hunter2-secret@db/bot",
                "sqlite://relative.db"):
        assert main(["status"], env={"DATABASE_URL": url}) == 2
        err = capsys.readouterr().err
        assert "DATABASE_URL" in err and "hunter2-secret" not in err and "admin" not in err


def test_a_sqlite_url_with_two_slashes_gets_the_right_form(capsys):
    assert main(["status"], env={"DATABASE_URL": "sqlite://relative.db"}) == 2
    assert "three slashes" in capsys.readouterr().err


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(tmp_path, capsys):
    url = "postgresql://bot:hunter2-secret@127.0.0.1:1/bot"  # nothing listens on port 1
    assert main(["migrate"], env={"DATABASE_URL": url}) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("finetune-bot migrate: cannot use the database postgresql://bot:***@127.0.0.1:1/bot")
    assert "hunter2-secret" not in err and "check DATABASE_URL" in err


def test_a_bot_token_slack_rejects_is_one_line(stack, tmp_path, capsys):
    env = {
        "SLACK_BOT_TOKEN": "xoxb-not-a-real-token", "SLACK_SIGNING_SECRET": "whatever-secret",
        "SLACK_API_URL": stack.slack.api_url, "OPENAI_API_KEY": "sk-test-123456",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
    }
    assert main(["run"], env=env) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("finetune-bot run: Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
    assert not any("Traceback" in line for line in err)
    assert not any("xoxb-not-a-real-token" in line or "whatever-secret" in line for line in err)
