"""`/finetune status` and `/finetune help`: where everything stands, and what the command can do."""
from __future__ import annotations

from datetime import date, datetime

from finetune.views import JobView, PipelineStatus
from storage.enums import JobState

SUBCOMMANDS = {
    "status": "where everything stands: reply model, examples, last job, next run",
    "run": "start a fine-tuning job now, if there are new approved examples (fine-tuning admins)",
    "cancel": "cancel the fine-tuning job in flight (fine-tuning admins)",
    "export": "send me the current training file and its validation report in a DM (fine-tuning admins)",
    "help": "this list",
}


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


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
    parts.append(f"*{job.label}*")
    parts.append(f"on {job.backend}")
    parts.append(f"{job.example_count} examples")
    parts.append(f"created {when(job.created_at)}")
    if job.finished_at:
        parts.append(f"finished {when(job.finished_at)}")
    text = " · ".join(parts)
    if job.progress and job.state in (JobState.SUBMITTED, JobState.TRAINED):
        text += f"\n    progress: {job.progress}"
    if (deploy := deploy_line(job)) is not None:
        text += f"\n    {deploy}"
    elif job.fine_tuned_model:
        text += f"\n    model `{job.fine_tuned_model}`"
    if job.error_message:
        text += f"\n    error: {job.error_message}"
    return text


def deploy_line(job: JobView) -> str | None:
    """Where the trained model stands on its way to answering."""
    where = f" at {job.served_where}" if job.served_where else ""
    if job.state == JobState.TRAINED:
        return f"deploy: waiting to deploy `{job.artifact}`" + (f" (last try: {job.error_message})" if job.error_message else "")
    if job.state == JobState.DEPLOYING:
        waiting = f" (retrying: {job.error_message})" if job.error_message else ""
        return f"deploy: loading `{job.fine_tuned_model}`{where}{waiting}"
    if job.state == JobState.SUCCEEDED and job.fine_tuned_model:
        return f"deploy: `{job.fine_tuned_model}` served{where}"
    return None


def deadline_line(until: date, today: date) -> str:
    if today > until:
        return (f"• :warning: The provider stopped taking new fine-tuning jobs after {until.isoformat()}; "
                "the current model keeps answering.")
    days = (until - today).days
    return (f"• :calendar: The provider takes new fine-tuning jobs until {until.isoformat()} ({days} days left); "
            "fine-tuned models keep answering after that.")


def retires(status: PipelineStatus, today: date | None) -> str:
    when_ = status.base_model_retires
    if when_ is None:
        return ""
    if today is not None and today > when_:
        return f" (:warning: retired on {when_.isoformat()})"
    return f" (retires on {when_.isoformat()})"


def status_text(status: PipelineStatus, next_run: datetime | None, schedule: str, today: date | None = None) -> str:
    active = status.active
    if active.unavailable:
        since = f"(the base model: `{active.unavailable}` is no longer served, since {when(active.since)})"
    elif active.since:
        since = f"since {when(active.since)}"
    else:
        since = "(the base model; no fine-tune yet)"
    counts = status.counts
    lines = [
        "*Fine-tuning status*",
        f"• Reply model: `{active.model}` {since}",
        f"• Fine-tuning backend: *{status.backend}*, base model `{status.base_model}`" + retires(status, today),
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
