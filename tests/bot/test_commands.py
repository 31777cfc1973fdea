"""/finetune answers ephemerally with where things stand and what it can do."""
from __future__ import annotations

from tests.support.products import PRODUCTS
from tests.support.slack import wait_for_approved


def command(stack, text: str) -> str:
    answer = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", text)
    assert answer["status"] == 200
    return answer["ack"]["text"]


def test_status_before_anything_happened(stack):
    text = command(stack, "status")
    assert "`gpt-4.1-mini-2025-04-14` (the base model; no fine-tune yet)" in text
    assert "0 in total, 0 not yet trained on" in text
    assert "starts a job at 10 new approved examples" in text
    assert "Last job: none yet" in text
    assert "Next scheduled run: 2026-11-26 03:00 UTC (`0 3 * * *`)" in text
    assert stack.slack.ephemerals[-1]["user"] == "U0ALICE"
    assert stack.slack.calls_to("chat.postMessage") == []  # nothing posted for everyone to see


def test_status_tracks_examples_and_the_last_job(stack):
    for product in PRODUCTS[:3]:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 3)
    assert "3 in total, 3 not yet trained on" in command(stack, "status")
    for product in PRODUCTS[3:]:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    stack.run_schedule(18 * 3600)
    text = command(stack, "status")
    job_id = stack.openai.jobs()[0]["id"]
    assert f"`{job_id}`" in text and "validating_files" in text
    stack.run_schedule(60)
    text = command(stack, "status")
    ft_model = stack.openai.jobs()[0]["fine_tuned_model"]
    assert f"Reply model: `{ft_model}` since 2026-11-26 03:01 UTC" in text
    assert "10 in total, 0 not yet trained on" in text and "*succeeded*" in text


def test_run_starts_a_job_now_and_cancel_stops_it(stack):
    assert "No new approved examples" in _respond(stack, "run")
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    assert "submitted" in _respond(stack, "run")
    assert "Cancellation" in _respond(stack, "cancel")
    assert stack.openai.jobs()[0]["status"] == "cancelled"
    assert stack.services.reply_model.current() == "gpt-4.1-mini-2025-04-14"


def _respond(stack, text: str) -> str:
    """The follow-up the command posts to its response_url once the work is done."""
    before = len(stack.slack.ephemerals)
    stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", text)
    later = stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals[before:] if e["source"] != "ack"])
    return later[-1]["text"]


def test_help_and_unknown_subcommands_list_what_exists(stack):
    for text in ("help", "", "frobnicate"):
        answer = command(stack, text)
        for sub in ("status", "run", "cancel", "help"):
            assert f"`/finetune {sub}`" in answer
    assert "I don't know `/finetune frobnicate`" in command(stack, "frobnicate")
