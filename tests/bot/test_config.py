"""Start-up settings: defaults, and one message naming everything wrong."""
from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings, read_environment
from finetune.redaction import redact

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A-xyz", "OPENAI_API_KEY": "sk-test-123456"}


def test_defaults_follow_the_readme():
    s = load_settings(GOOD)
    assert s.socket_mode and s.port == 3000 and s.slack_api_url == "https://slack.com/api/"
    assert s.base_model == "gpt-4.1-mini-2025-04-14" and s.min_examples == 10 and s.poll_seconds == 60
    assert s.approve_reactions == ("+1", "white_check_mark", "star")
    assert s.database_url == "sqlite:///data/finetune-bot.db"
    assert s.system_prompt.startswith("You are a friendly and enthusiastic product reviewer")
    assert "xoxb" not in repr(s) and "sk-test" not in repr(s)


def test_every_problem_is_named_at_once_without_echoing_secrets():
    with pytest.raises(ConfigError) as caught:
        load_settings({"SLACK_BOT_TOKEN": "oops-secret-value", "PORT": "http", "FINETUNE_SCHEDULE": "nightly",
                       "FINETUNE_MIN_EXAMPLES": "0", "APPROVE_REACTIONS": ",,", "DATABASE_URL": "mysql://x/y"})
    message = str(caught.value)
    for name in ("SLACK_BOT_TOKEN", "OPENAI_API_KEY", "SLACK_APP_TOKEN", "PORT", "FINETUNE_SCHEDULE",
                 "FINETUNE_MIN_EXAMPLES", "APPROVE_REACTIONS", "DATABASE_URL"):
        assert name in message
    assert "oops-secret-value" not in message
    assert len(caught.value.problems) == 8


def test_reactions_are_read_with_or_without_colons():
    s = load_settings(GOOD | {"APPROVE_REACTIONS": ":heart:, +1 ,heart"})
    assert s.approve_reactions == ("heart", "+1")


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("FINETUNE_SUFFIX=from-file\nPORT=4000\n")
    merged = read_environment({"PORT": "5000"}, env_file)
    assert merged["FINETUNE_SUFFIX"] == "from-file" and merged["PORT"] == "5000"


def test_tokens_and_keys_are_masked_in_log_text():
    line = redact("posting with xoxb-123-456-abcdef and sk-proj-abcdefghijk and my-signing-secret", ["my-signing-secret"])
    assert "xoxb-123" not in line and "sk-proj" not in line and "my-signing-secret" not in line
    assert line.count("[redacted]") == 3


def test_loading_settings_does_not_import_the_pipeline_or_any_client():
    import subprocess
    import sys

    probe = ("import sys; from bot.config import load_settings; "
             "print(sorted(m for m in sys.modules if m.startswith(('finetune.pipeline', 'openai', 'slack_bolt', 'storage'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
