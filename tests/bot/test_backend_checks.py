"""Choosing a backend: a bad choice or a missing piece is named at start-up, every problem at once, in one message."""
from __future__ import annotations

import importlib.util
import socket

from bot.cli import main

SLACK = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "LOG_LEVEL": "WARNING"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unknown_backend_is_named_with_the_choices(tmp_path, capsys):
    env = {**SLACK, "OPENAI_API_KEY": "sk-x", "FINETUNE_BACKEND": "bedrock", "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    assert main(["run"], env=env) == 2
    err = capsys.readouterr().err
    assert "FINETUNE_BACKEND='bedrock' is not a fine-tuning backend (use one of: openai, local, together)" in err


def test_the_local_backend_names_a_missing_model_directory_the_extra_and_an_unreachable_vllm(tmp_path, capsys):
    env = {**SLACK, "FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": str(tmp_path / "no-such-model"),
           "VLLM_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1", "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    assert main(["run"], env=env) == 2
    err = capsys.readouterr().err
    assert "The fine-tuning backend is not ready:" in err and "Traceback" not in err
    assert "no-such-model is not a directory" in err
    assert "vLLM did not answer at VLLM_BASE_URL=http://127.0.0.1:" in err and "--enable-lora" in err
    extra_missing = importlib.util.find_spec("torch") is None
    assert ("pip install 'finetune-bot[local]'" in err) == extra_missing
    assert not (tmp_path / "b.db").exists()  # nothing was started or created


def test_the_local_backend_needs_its_model_directory_setting(tmp_path, capsys):
    env = {**SLACK, "FINETUNE_BACKEND": "local", "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    assert main(["run"], env=env) == 2
    assert "LOCAL_BASE_MODEL is not set" in capsys.readouterr().err


def test_a_directory_that_is_not_a_model_is_named(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    env = {"FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": str(tmp_path / "model"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/b.db", "LOG_LEVEL": "WARNING"}
    assert main(["worker"], env=env) == 2
    assert "holds no config.json: it is not a Hugging Face model directory" in capsys.readouterr().err


def test_together_needs_its_key_and_openai_does_not(tmp_path, capsys):
    env = {**SLACK, "FINETUNE_BACKEND": "together", "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    assert main(["run"], env=env) == 2
    err = capsys.readouterr().err
    assert "TOGETHER_API_KEY is not set" in err and "OPENAI_API_KEY" not in err


def test_a_method_the_backend_cannot_train_is_named_at_start_up():
    import pytest

    from bot.backend_checks import BackendNotReady, check_method, method_problem
    from bot.config import load_settings
    from finetune.backend import Capabilities, Method

    settings = load_settings({**SLACK, "FINETUNE_BACKEND": "local", "LOCAL_BASE_MODEL": "/models/qwen",
                              "FINETUNE_METHOD": "dpo"})
    supervised_only = Capabilities(min_examples=1, max_example_tokens=1024, methods=frozenset({Method.SFT}))
    with pytest.raises(BackendNotReady) as caught:
        check_method(settings, supervised_only)
    assert caught.value.problems == ["The local backend cannot train with FINETUNE_METHOD=dpo: set "
                                     "FINETUNE_METHOD=supervised, or choose a backend that offers it."]
    both = Capabilities(min_examples=1, max_example_tokens=1024, methods=frozenset({Method.SFT, Method.DPO}))
    assert method_problem(settings, both) is None
