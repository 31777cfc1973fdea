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


def test_chat_is_configured_apart_from_training_and_defaults_to_where_the_backend_serves():
    from bot.config import load_settings

    openai = load_settings({"OPENAI_API_KEY": "sk-a"}, require_credentials=False)
    assert openai.chat_endpoint == (None, "sk-a")  # the SDK's own default: OpenAI
    local = load_settings({"FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": "/models/llama"}, require_credentials=False)
    assert local.chat_endpoint == ("http://127.0.0.1:8000/v1", None) and local.base_model == "/models/llama"
    together = load_settings({"FINETUNE_BACKEND": "together", "TOGETHER_API_KEY": "tg-b"}, require_credentials=False)
    assert together.chat_endpoint == ("https://api.together.ai/v1", "tg-b")
    own = load_settings({"CHAT_BASE_URL": "http://chat.internal/v1", "CHAT_API_KEY": "ck", "OPENAI_API_KEY": "sk-a"},
                        require_credentials=False)
    assert own.chat_endpoint == ("http://chat.internal/v1", "ck") and "ck" in own.secrets()


def test_local_hyperparameters_have_defaults_and_are_checked():
    from bot.config import ConfigError, load_settings

    s = load_settings({}, require_credentials=False)
    assert (s.local_epochs, s.local_learning_rate, s.local_lora_rank, s.local_lora_alpha, s.local_max_length) == \
        (3, 2e-4, 16, 32, 1024)
    assert s.local_adapters_dir == "./data/adapters" and s.local_worker == "inside"
    try:
        load_settings({"LOCAL_LORA_RANK": "0", "LOCAL_LEARNING_RATE": "fast", "LOCAL_WORKER": "sometimes"},
                      require_credentials=False)
    except ConfigError as exc:
        assert len(exc.problems) == 3 and any("LOCAL_WORKER='sometimes'" in p for p in exc.problems)
    else:
        raise AssertionError("bad local settings were accepted")


def test_the_dataset_settings_have_defaults_and_are_checked():
    from finetune.backend import Method

    s = load_settings(GOOD)
    assert s.method is Method.SFT and s.holdout_min == 50 and s.redact_patterns == ()
    s = load_settings(GOOD | {"FINETUNE_METHOD": "DPO", "FINETUNE_HOLDOUT_MIN": "0",
                              "REDACT_PATTERNS": r"ORD-\d{6} || (?i)project\s+falcon"})
    assert s.method is Method.DPO and s.holdout_min == 0
    assert s.redact_patterns == (r"ORD-\d{6}", r"(?i)project\s+falcon")
    with pytest.raises(ConfigError) as caught:
        load_settings(GOOD | {"FINETUNE_METHOD": "rlhf", "FINETUNE_HOLDOUT_MIN": "-1", "REDACT_PATTERNS": "ok || ORD-("})
    problems = caught.value.problems
    assert "FINETUNE_METHOD='rlhf' is not a fine-tuning method (use one of: supervised, dpo)" in problems
    assert any(p.startswith("FINETUNE_HOLDOUT_MIN='-1' is not a number of examples") for p in problems)
    assert any(p.startswith("REDACT_PATTERNS='ok || ORD-(' is not a list of regular expressions separated by || "
                            "(pattern 2 ('ORD-(') is not a regular expression") for p in problems)


def test_who_steers_and_self_approval_are_read_and_checked():
    s = load_settings({}, require_credentials=False)
    assert s.finetune_admins == frozenset() and s.allow_self_approval is False  # the workspace's admins; no self-approval
    s = load_settings({"FINETUNE_ADMINS": "U0ALICE, W0BOB", "ALLOW_SELF_APPROVAL": "true"}, require_credentials=False)
    assert s.finetune_admins == {"U0ALICE", "W0BOB"} and s.allow_self_approval is True
    with pytest.raises(ConfigError) as caught:
        load_settings({"FINETUNE_ADMINS": "alice", "ALLOW_SELF_APPROVAL": "sometimes"}, require_credentials=False)
    assert len(caught.value.problems) == 2
    assert any(p.startswith("FINETUNE_ADMINS='alice' is not a list of Slack user ids") for p in caught.value.problems)
    assert any(p.startswith("ALLOW_SELF_APPROVAL='sometimes' is not true or false") for p in caught.value.problems)


def test_the_pipeline_counts_tokens_with_the_local_models_tokenizer_and_prices_from_the_settings(tmp_path):
    from bot.config import load_settings
    from bot.services import pipeline_config

    prices = tmp_path / "prices.json"
    prices.write_text('{"my-base": 1.25}')
    local = load_settings({"FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": str(tmp_path), "FINETUNE_BASE_MODEL": "my-base",
                           "FINETUNE_PRICES_FILE": str(prices)}, require_credentials=False)
    config = pipeline_config(local)
    assert config.model_dir == str(tmp_path) and config.prices["my-base"] == 1.25
    assert pipeline_config(load_settings({}, require_credentials=False)).model_dir is None  # OpenAI: bpe-openai's encodings
