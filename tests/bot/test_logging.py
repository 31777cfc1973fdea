"""Logs: one line per event, and never a token, key or secret."""
from __future__ import annotations

import io
import logging

from bot.logs import configure_logging
from sandbox.stack import SANDBOX_OPENAI_KEY


def test_a_whole_conversation_logs_single_lines_without_secrets(stack):
    out = io.StringIO()
    secrets = stack.settings.secrets()
    configure_logging("DEBUG", secrets, stream=out)
    try:
        reply = stack.ask("Review this product: a desk fan")
        stack.approve(reply)
        stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")
        stack.openai.fail_next("chat.completions", 401, message=f"Incorrect API key provided: {SANDBOX_OPENAI_KEY}")
        stack.ask("Review this product: a broken request")
        logging.getLogger("test").error("boom", exc_info=ValueError("multi\nline"))
    finally:
        logging.getLogger().handlers.clear()
    text = out.getvalue()
    assert "answered C0GENERAL/" in text and "failed" in text
    for secret in [*secrets, SANDBOX_OPENAI_KEY, "xoxb-", "xapp-"]:
        assert secret not in text
    lines = text.splitlines()
    assert all(line[:4].isdigit() for line in lines), "every event starts a new line with its timestamp"
