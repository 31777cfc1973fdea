"""Every text the bot shows in Slack, in one place, from plain data (no Slack calls here)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from finetune.pipeline import JobView, PipelineStatus

HINT = "Ask me something after the mention, e.g. `@finetune-bot Review this product: a portable Bluetooth speaker`."
THINKING = "_Thinking…_"
NOTHING_TO_IMPROVE = "There is no answer of mine earlier in this thread to improve yet: ask me first, then reply `better: …`."

SUBCOMMANDS = {
    "status": "where everything stands: reply model, examples, last job, next run",
    "run": "start a fine-tuning job now, if there are new approved examples",
    "cancel": "cancel the fine-tuning job in flight",
    "help": "this list",
}


def when(moment: datetime | str | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def help_text(unknown: str | None = None) -> str:
    lines = [f"I don't know `/finetune {unknown}`." if unknown else "*/finetune* subcommands:"]
    if unknown:
        lines.append("*/finetune* subcommands:")
    lines += [f"• `/finetune {name}` — {what}" for name, what in SUBCOMMANDS.items()]
    return "\n".join(lines)


def job_line(job: JobView) -> str:
    parts = [f"#{job.id}"]
    if job.provider_job_id:
        parts.append(f"`{job.provider_job_id}`")
    state = job.state if job.state != "submitted" else (job.provider_status or "submitted")
    parts.append(f"*{state}*")
    parts.append(f"{job.example_count} examples")
    parts.append(f"created {when(job.created_at)}")
    if job.finished_at:
        parts.append(f"finished {when(job.finished_at)}")
    text = " · ".join(parts)
    if job.fine_tuned_model:
        text += f"\n    model `{job.fine_tuned_model}`"
    if job.error_message:
        text += f"\n    error: {job.error_message}"
    return text


def deadline_line(until: date, today: date) -> str:
    if today > until:
        return (f"• :warning: The provider stopped taking new fine-tuning jobs after {until.isoformat()}; "
                "the current model keeps answering.")
    days = (until - today).days
    return (f"• :calendar: The provider takes new fine-tuning jobs until {until.isoformat()} ({days} days left); "
            "fine-tuned models keep answering after that.")


def status_text(status: PipelineStatus, next_run: datetime | None, schedule: str, today: date | None = None) -> str:
    active = status.active
    since = f"since {when(active.since)}" if active.since else "(the base model; no fine-tune yet)"
    counts = status.counts
    lines = [
        "*Fine-tuning status*",
        f"• Reply model: `{active.model}` {since}",
        f"• Approved examples: {counts.approved} in total, {counts.untrained} not yet trained on",
        f"• Threshold: a scheduled run starts a job at {status.min_examples} new approved examples",
        f"• Last job: {job_line(status.last_job) if status.last_job else 'none yet'}",
        f"• Next scheduled run: {when(next_run)} (`{schedule}`)",
    ]
    if status.paused_reason:
        lines.append(f"• :double_vertical_bar: {status.paused_reason}")
    if status.accepts_jobs_until and today:
        lines.append(deadline_line(status.accepts_jobs_until, today))
    return "\n".join(lines)


def notification_text(kind: str, payload: dict[str, Any]) -> str:
    job = payload.get("job", {})
    ref = job.get("provider_job_id") or f"#{job.get('id')}"
    examples = job.get("example_count")
    if kind == "job_submitted":
        return f":hourglass_flowing_sand: Fine-tuning job `{ref}` started on `{job.get('base_model')}` with {examples} approved examples."
    if kind == "job_succeeded":
        return f":tada: `{job.get('fine_tuned_model')}` is now answering, trained on {examples} examples."
    if kind == "job_failed":
        return f":warning: Fine-tuning job `{ref}` failed: {job.get('error_message')}. The reply model stays as it was."
    if kind == "job_cancelled":
        return f":no_entry_sign: Fine-tuning job `{ref}` was cancelled. The reply model stays as it was."
    if kind == "job_refused":
        return (
            f":no_entry: The fine-tuning provider refused job #{job.get('id')}: {job.get('error_message')}. "
            "No examples were lost; scheduled runs are paused until someone runs `/finetune run`."
        )
    return f"Fine-tuning update ({kind})."


def reply_blocks(text: str, model: str, approve_reaction: str) -> list[dict[str, Any]]:
    return _answer_blocks(
        text,
        f"Answered by `{model}` · react :{approve_reaction}: if this is a good answer, "
        "or reply `better: …` with a better one",
    )


def suggestion_blocks(text: str, author: str, approve_reaction: str) -> list[dict[str, Any]]:
    return _answer_blocks(
        text, f"Better answer suggested by <@{author}> · react :{approve_reaction}: to make it a training example"
    )


def _answer_blocks(text: str, footer: str) -> list[dict[str, Any]]:
    """The answer, and under it who wrote it and how to approve it."""
    return [
        {"type": "markdown", "text": text[:12000]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
    ]


REPLY_EVENT_TYPE = "finetune_bot_reply"


def reply_metadata(reply_id: int, model: str, author: str) -> dict[str, Any]:
    """Slack message metadata on every answer: lets tools (the sandbox) read who answered without parsing text."""
    return {"event_type": REPLY_EVENT_TYPE, "event_payload": {"reply_id": reply_id, "model": model, "author": author}}


def apology(reason: str) -> str:
    return f":sweat: Sorry, I couldn't answer that just now ({reason}). Please try again in a moment."
