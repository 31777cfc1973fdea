"""The tables: replies and their approvals, frozen datasets, fine-tuning jobs, model swaps, the Slack outbox.

Training examples are not a table of their own: an example is a reply with at least one approval,
so taking the last approving reaction away takes the example back out with no flag to keep in sync.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.enums import JobState, LocalRunState, NotificationKind, ReplyAuthor, ReplyStatus, Trigger
from storage.types import EnumText, UTCDateTime


class Base(DeclarativeBase):
    pass


class Reply(Base):
    """One answer in a thread: the exact messages sent to the model, the model, and the answer.

    Usually the model wrote it; when a person suggests a better answer, the bot posts it as a reply of
    its own with the same conversation, `author` is PERSON and `suggested_by` names that person.
    """

    __tablename__ = "replies"
    __table_args__ = (
        UniqueConstraint("channel", "source_ts", name="uq_replies_source"),
        UniqueConstraint("channel", "ts", name="uq_replies_ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    source_ts: Mapped[str] = mapped_column(String(32), comment="ts of the user's message being answered")
    thread_ts: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32), comment="ts of the bot's reply, once posted")
    user_id: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    author: Mapped[ReplyAuthor] = mapped_column(
        EnumText(ReplyAuthor, 32), default=ReplyAuthor.MODEL, server_default="model",
        comment="'model' or 'person' (then see suggested_by)",
    )
    suggested_by: Mapped[str | None] = mapped_column(
        String(32), comment="Slack user id of the person whose better answer this is"
    )
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reply_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ReplyStatus] = mapped_column(EnumText(ReplyStatus, 16), default=ReplyStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    approvals: Mapped[list[Approval]] = relationship(back_populates="reply", cascade="all, delete-orphan")


class Approval(Base):
    """One person's approving emoji on one reply, as of the latest reaction event applied.

    A removal keeps the row with active=False, so an older 'added' event arriving late is ignored.
    """

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("reply_id", "user_id", "reaction", name="uq_approvals"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    reaction: Mapped[str] = mapped_column(String(100))
    positive: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(),
                                           comment="False: a vote against (a reject emoji, the negative button)")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    event_ts: Mapped[str] = mapped_column(String(32), default="0", server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the vote was last cast (see queries.approved_filter)

    reply: Mapped[Reply] = relationship(back_populates="approvals")


class Correction(Base):
    """A person's corrected answer to one of the bot's replies (the Improve modal, or `better: …`).

    The newest correction of a reply is its example's assistant turn; the reply's own text stays as the
    original beside it, and (corrected, original) is a preference pair.
    """

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), comment="'improve' (the modal) or 'better' (a thread message)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Dataset(Base):
    """The examples a job was given, frozen at submission so 'trained on' stays true afterwards."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    example_count: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sha256: Mapped[str] = mapped_column(String(64))
    jsonl: Mapped[str] = mapped_column(Text)
    validation_jsonl: Mapped[str | None] = mapped_column(Text, comment="the held-out examples, when there are any")

    examples: Mapped[list[DatasetExample]] = relationship(cascade="all, delete-orphan")


class DatasetExample(Base):
    __tablename__ = "dataset_examples"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), primary_key=True, index=True)


class FineTuneJob(Base):
    """Our side of a fine-tuning job; `state` is the pipeline's state machine (see finetune.states)."""

    __tablename__ = "fine_tune_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    state: Mapped[JobState] = mapped_column(EnumText(JobState, 16), index=True)
    trigger: Mapped[Trigger] = mapped_column(EnumText(Trigger, 16), default=Trigger.SCHEDULE)
    provider: Mapped[str] = mapped_column(String(32))
    base_model: Mapped[str] = mapped_column(String(200))
    suffix: Mapped[str | None] = mapped_column(String(64))
    file_id: Mapped[str | None] = mapped_column(String(100))
    validation_file_id: Mapped[str | None] = mapped_column(String(100), comment="the staged held-out examples")
    file_deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="when the training file was deleted at the backend, once the job no longer needed it"
    )
    provider_job_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(32))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(300), comment="the name chat completions take, once deployed")
    method: Mapped[str] = mapped_column(String(8), default="sft", server_default="sft")
    hyperparameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="what the backend trained with")
    artifact: Mapped[str | None] = mapped_column(String(500), comment="what the backend trained: deploy() takes it")
    served_where: Mapped[str | None] = mapped_column(String(300), comment="where the deployed model is served")
    progress_step: Mapped[int | None] = mapped_column(Integer)
    progress_total_steps: Mapped[int | None] = mapped_column(Integer)
    progress_epoch: Mapped[float | None] = mapped_column(Float)
    progress_total_epochs: Mapped[float | None] = mapped_column(Float)
    progress_loss: Mapped[float | None] = mapped_column(Float)
    trained_tokens: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    dataset: Mapped[Dataset] = relationship()


class ModelActivation(Base):
    """Each swap of the reply model; the latest row is the active model, and survives restarts.

    `unavailable_at` is set once when the provider says it no longer serves the model: from then on the
    bot answers with the base model, without asking for the missing one first every time.
    """

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(300))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("fine_tune_jobs.id"))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    unavailable_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="when the provider stopped serving this model"
    )


class Notification(Base):
    """Outbox of announcements: the core records them, the Slack side posts each one once.

    A poster claims a note in the database before posting it (claimed_by until claimed_until), so two
    bot processes never post the same note; `attempts` counts the posts begun, and a note with an
    earlier attempt is first looked for in `channel` (by its message metadata) before it is posted again.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(EnumText(NotificationKind, 32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(32), comment="where the first attempt posted it")
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64), comment="the poster working on it, until claimed_until")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slack_ts: Mapped[str | None] = mapped_column(String(32), comment="ts of the posted message")


class ProcessedEvent(Base):
    """Slack event ids already taken, so a redelivered event is acknowledged and ignored."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PipelineLease(Base):
    """Who may work the pipeline until when: a lease, so a process that died frees it by expiring."""

    __tablename__ = "pipeline_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LocalFile(Base):
    """A training file staged for the self-hosted backend: in the database, so a worker elsewhere reads it."""

    __tablename__ = "local_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LocalRun(Base):
    """A training run of the self-hosted backend. `key` is the pipeline's idempotency key: one run per key.

    A worker claims a queued run (a compare-and-set, so two workers never take the same one), beats
    `heartbeat_at` while it trains, and writes progress; a run whose heartbeat stopped is queued again.
    """

    __tablename__ = "local_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[LocalRunState] = mapped_column(EnumText(LocalRunState, 16), index=True)
    base_model: Mapped[str] = mapped_column(String(300))
    file_id: Mapped[int] = mapped_column(ForeignKey("local_files.id"))
    method: Mapped[str] = mapped_column(String(8), default="sft")
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int | None] = mapped_column(Integer)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column(Float)
    total_epochs: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)
    artifact: Mapped[str | None] = mapped_column(String(500), comment="the adapter's directory")
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
