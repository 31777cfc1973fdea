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
        where = f", served by {job.served_where}" if job.served_where else ""
        return f":tada: `{job.fine_tuned_model}` is now answering{where}, trained on {job.example_count} examples."
    if notice.kind == NotificationKind.DEPLOY_FAILED:
        return (f":warning: Job `{ref}` trained, but deploying it failed: {job.error_message}. "
                "The current model keeps answering; the deploy is retried.")
    if notice.kind == NotificationKind.UPLOAD_REFUSED:
        return (f":no_entry: Job #{job.id} was not uploaded: {job.error_message}. Nothing left this workspace and "
                "the reply model stays as it was; `/finetune export` sends you the file and its full report.")
    if notice.kind == NotificationKind.JOB_FAILED:
        return f":warning: Fine-tuning job `{ref}` failed: {job.error_message}. The reply model stays as it was."
    if notice.kind == NotificationKind.JOB_CANCELLED:
        return f":no_entry_sign: Fine-tuning job `{ref}` was cancelled. The reply model stays as it was."
    advice = f"\n{job.advice}" if job.advice and job.error_code == "training_not_available" else ""
    return (
        f":no_entry: The {job.backend} backend refused job #{job.id}: {job.error_message}. "
        f"No examples were lost; scheduled runs are paused until someone runs `/finetune run`.{advice}"
    )
