"""What the bot posts in the notify channel when a fine-tuning job moves."""
from __future__ import annotations

from datetime import datetime
from typing import Any

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


NOTIFICATION_EVENT_TYPE = "finetune_bot_notification"


def notification_metadata(note_id: int, created_at: datetime) -> dict[str, Any]:
    """Slack message metadata naming the outbox note a post carries: how a re-post finds it in the channel."""
    return {"event_type": NOTIFICATION_EVENT_TYPE,
            "event_payload": {"notification_id": note_id, "created_at": int(created_at.timestamp())}}


def carries_notification(message: dict[str, Any], note_id: int, created_at: datetime) -> bool:
    """Whether a message from conversations.history (include_all_metadata) is the post of this note."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != NOTIFICATION_EVENT_TYPE:
        return False
    return metadata.get("event_payload") == notification_metadata(note_id, created_at)["event_payload"]
