"""The values stored in the tables' state and kind columns: the contracts between storage, the core and bot/.

They are StrEnums, so a row compares equal to its text and the columns stay plain text in both databases.
"""
from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a fine-tuning job stands in the pipeline; finetune.states holds the transitions between them."""

    PREPARING = "preparing"
    UPLOADED = "uploaded"
    SUBMITTED = "submitted"
    TRAINED = "trained"  # the backend finished training: the artifact is known, not yet served
    DEPLOYING = "deploying"  # asked the backend to serve it; waiting for ready and a smoke test
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUSED = "refused"


class Trigger(StrEnum):
    """Who started a job: the nightly schedule, or a person with `/finetune run`."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


class ReplyStatus(StrEnum):
    PENDING = "pending"  # claimed: the answer is being written
    ANSWERED = "answered"
    FAILED = "failed"


class ReplyAuthor(StrEnum):
    """Who wrote a reply's text: the model, or a person whose better answer the bot posted."""

    MODEL = "model"
    PERSON = "person"


class NotificationKind(StrEnum):
    JOB_SUBMITTED = "job_submitted"
    JOB_SUCCEEDED = "job_succeeded"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    JOB_REFUSED = "job_refused"
    DEPLOY_FAILED = "deploy_failed"
    UPLOAD_REFUSED = "upload_refused"  # the training file failed validation: nothing was uploaded


class LocalRunState(StrEnum):
    """A run of the self-hosted backend, in its own table; a worker process moves it."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"  # cancel asked while running: the worker stops at its next step
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
