"""Start-up checks of the configured fine-tuning backend: each problem named, all at once, before serving.

Only settings and one HTTP probe: no backend is built, and torch is never imported here.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx2 as httpx

from bot.config import Settings
from finetune.backend import Capabilities, method_unsupported

LOCAL_EXTRA_MODULES = ("torch", "transformers", "peft", "trl", "datasets")
INSTALL_LOCAL = "install the [local] extra where training runs: pip install 'finetune-bot[local]' (or '.[local]' in a checkout)"


class BackendNotReady(Exception):
    """What keeps the configured backend from working, every problem at once, in plain words."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The fine-tuning backend is not ready:\n" + "\n".join(f"  - {p}" for p in problems))


def missing_local_extra() -> list[str]:
    return [name for name in LOCAL_EXTRA_MODULES if importlib.util.find_spec(name) is None]


def model_dir_problem(path: str | None) -> str | None:
    """Why LOCAL_BASE_MODEL is not a model directory; None when it looks like one. Nothing is downloaded."""
    if not path:
        return "LOCAL_BASE_MODEL is not set: the directory of the base model to train (nothing is downloaded)"
    where = Path(path)
    if not where.is_dir():
        return f"LOCAL_BASE_MODEL={path} is not a directory: point it at a model saved on disk (config.json, weights, tokenizer)"
    if not (where / "config.json").is_file():
        return f"LOCAL_BASE_MODEL={path} holds no config.json: it is not a Hugging Face model directory"
    if not any((where / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        return f"LOCAL_BASE_MODEL={path} holds no tokenizer files (tokenizer.json or tokenizer_config.json)"
    return None


def local_training_problems(settings: Settings) -> list[str]:
    """What a process that trains (the worker, or the bot running one inside) needs."""
    problems = []
    if missing := missing_local_extra():
        problems.append(f"the local backend needs {', '.join(missing)}: {INSTALL_LOCAL}")
    if (problem := model_dir_problem(settings.local_base_model)) is not None:
        problems.append(problem)
    return problems


def vllm_problem(settings: Settings, timeout: float = 5.0) -> str | None:
    """vLLM must answer at VLLM_BASE_URL: replies and deploys go there."""
    url = settings.vllm_base_url.rstrip("/") + "/models"
    try:
        with httpx.Client(timeout=timeout) as client:
            answer = client.get(url)
    except httpx.HTTPError as exc:
        return (f"vLLM did not answer at VLLM_BASE_URL={settings.vllm_base_url} ({type(exc).__name__}): start it with "
                "`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve MODEL_DIR --enable-lora --served-model-name NAME` "
                "(see “Fine-tuning backends” in the README)")
    if answer.status_code != 200:
        return f"vLLM at VLLM_BASE_URL={settings.vllm_base_url} answered {answer.status_code} to GET /models"
    return None


def check_backend(settings: Settings) -> None:
    """Before serving: the configured backend can work here. Raises BackendNotReady naming each problem."""
    problems: list[str] = []
    if settings.backend == "local":
        if settings.local_worker == "inside":
            problems += local_training_problems(settings)
        if (problem := vllm_problem(settings)) is not None:
            problems.append(problem)
    if problems:
        raise BackendNotReady(problems)


def method_problem(settings: Settings, capabilities: Capabilities) -> str | None:
    """FINETUNE_METHOD must be one the chosen backend trains (its capabilities say which)."""
    if settings.method in capabilities.methods:
        return None
    return method_unsupported(settings.backend, settings.method)


def check_method(settings: Settings, capabilities: Capabilities) -> None:
    """Once the backend is built: raises BackendNotReady when it cannot train the way FINETUNE_METHOD asks."""
    if (problem := method_problem(settings, capabilities)) is not None:
        raise BackendNotReady([problem])
