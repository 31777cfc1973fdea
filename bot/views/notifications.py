"""What the bot posts in the notify channel when a fine-tuning job moves."""
from __future__ import annotations

from finetune.views import JobNotice
from storage.enums import NotificationKind


def notification_text(notice: JobNotice) -> str:
    job = notice.job
    ref = job.provider_job_id or f"#{job.id}"
    if notice.kind == NotificationKind.JOB_SUBMITTED:
        return (f":hourglass_flowing_sand: Fine-tuning job `{ref}` started on `{job.base_model}` "
                f"with {job.example_count} approved examples.")
    if notice.kind == NotificationKind.JOB_SUCCEEDED:
        return f":tada: `{job.fine_tuned_model}` is now answering, trained on {job.example_count} examples."
    if notice.kind == NotificationKind.JOB_FAILED:
        return f":warning: Fine-tuning job `{ref}` failed: {job.error_message}. The reply model stays as it was."
    if notice.kind == NotificationKind.JOB_CANCELLED:
        return f":no_entry_sign: Fine-tuning job `{ref}` was cancelled. The reply model stays as it was."
    return (
        f":no_entry: The fine-tuning provider refused job #{job.id}: {job.error_message}. "
        "No examples were lost; scheduled runs are paused until someone runs `/finetune run`."
    )
