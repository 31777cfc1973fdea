"""Queries over the tables, each taking the session it runs in, so callers own the transaction."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, and_, case, delete, distinct, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import JobState, NotificationKind, ReplyAuthor, ReplyStatus
from storage.models import (
    Approval,
    Correction,
    Dataset,
    DatasetExample,
    FineTuneJob,
    ModelActivation,
    Notification,
    PipelineLease,
    ProcessedEvent,
    Reply,
)


def _changed(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched: how a compare-and-set knows it won."""
    return cast(CursorResult[Any], result).rowcount or 0


# --- Slack events ---------------------------------------------------------------------------------


def claim_event(session: Session, event_id: str, now: datetime) -> bool:
    """True the first time an event id is seen; False for a redelivery."""
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(event_id=event_id, received_at=now))
    except IntegrityError:
        return False
    return True


def forget_events_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
    return _changed(result)


# --- replies --------------------------------------------------------------------------------------


def claim_reply(
    session: Session,
    *,
    channel: str,
    source_ts: str,
    thread_ts: str,
    user_id: str,
    team_id: str | None,
    model: str,
    messages: list[dict[str, Any]],
    now: datetime,
    suggested_by: str | None = None,
) -> int | None:
    """Claims the answer to one user message; its id, or None when it is already being (or was) answered.

    `suggested_by` makes it a person's answer (author PERSON) rather than the model's.
    """
    reply = Reply(
        channel=channel,
        source_ts=source_ts,
        thread_ts=thread_ts,
        user_id=user_id,
        team_id=team_id,
        model=model,
        messages=messages,
        author=ReplyAuthor.PERSON if suggested_by else ReplyAuthor.MODEL,
        suggested_by=suggested_by,
        status=ReplyStatus.PENDING,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(reply)
    except IntegrityError:
        return None
    return reply.id


def reply_posted(session: Session, reply_id: int, ts: str) -> None:
    """The bot's message for a pending reply exists in Slack (a placeholder, or the finished post)."""
    session.execute(
        update(Reply).where(Reply.id == reply_id, Reply.status == ReplyStatus.PENDING).values(ts=ts)
    )


def finish_reply(
    session: Session, reply_id: int, *, text: str, model: str, now: datetime, ts: str | None = None,
    owner: str | None = None,
) -> bool:
    """Pending -> answered; False when the reply was not pending any more (failed at start-up, say), or
    when `owner` no longer holds its lease (another process took the work over)."""
    if owner is not None and not still_holds_reply(session, reply_id, owner):
        return False
    values: dict[str, Any] = {"reply_text": text, "model": model, "status": ReplyStatus.ANSWERED, "answered_at": now}
    if ts is not None:
        values["ts"] = ts
    result = session.execute(
        update(Reply).where(Reply.id == reply_id, Reply.status == ReplyStatus.PENDING).values(**values)
    )
    _end_reply_lease(session, reply_id)
    return bool(_changed(result))


def fail_reply(session: Session, reply_id: int, reason: str, *, owner: str | None = None) -> bool:
    """Pending -> failed, with the reason kept for the log and status; False when it was no longer pending
    (or, with `owner`, when another process holds its lease)."""
    if owner is not None and not still_holds_reply(session, reply_id, owner):
        return False
    result = session.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.status == ReplyStatus.PENDING)
        .values(status=ReplyStatus.FAILED, error=reason)
    )
    _end_reply_lease(session, reply_id)
    return bool(_changed(result))


# A pending reply's work is leased (rows in pipeline_leases named "reply:<id>"), renewed while it streams
# and waits: a lease that ran out belongs to a process that died, and its reply may be taken over.
RESUMED_NOTE = "the bot stopped while answering; answered again"  # Reply.error of a reply taken over once


def _reply_lease(reply_id: int) -> str:
    return f"reply:{reply_id}"


def hold_reply(session: Session, reply_id: int, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Takes or renews the lease on a pending reply's work: True when `owner` holds it until now + ttl."""
    return take_lease(session, _reply_lease(reply_id), owner, now, ttl)


def still_holds_reply(session: Session, reply_id: int, owner: str) -> bool:
    lease = session.get(PipelineLease, _reply_lease(reply_id))
    return lease is None or lease.owner == owner


def _end_reply_lease(session: Session, reply_id: int) -> None:
    session.execute(delete(PipelineLease).where(PipelineLease.name == _reply_lease(reply_id)))


def release_reply(session: Session, reply_id: int, owner: str, now: datetime) -> None:
    """Gives the work back unfinished (it could not be started): the next sweep may take it."""
    release_lease(session, _reply_lease(reply_id), owner, now - timedelta(microseconds=1))


def abandoned_replies(session: Session, now: datetime, unleased_before: datetime) -> list[Reply]:
    """Pending replies nobody works on: their lease ran out, or (claimed with no lease) they are old."""
    pending = session.scalars(select(Reply).where(Reply.status == ReplyStatus.PENDING).order_by(Reply.id)).all()
    if not pending:
        return []
    names = [_reply_lease(reply.id) for reply in pending]
    leases = {lease.name: lease for lease in session.scalars(select(PipelineLease).where(PipelineLease.name.in_(names)))}
    abandoned = []
    for reply in pending:
        lease = leases.get(_reply_lease(reply.id))
        if (lease.expires_at < now) if lease is not None else reply.created_at < unleased_before:
            abandoned.append(reply)
    return abandoned


def is_abandoned(session: Session, reply: Reply, now: datetime, unleased_before: datetime) -> bool:
    return reply.status == ReplyStatus.PENDING and any(
        r.id == reply.id for r in abandoned_replies(session, now, unleased_before)
    )


def take_over_reply(session: Session, reply_id: int, owner: str, now: datetime, ttl: timedelta) -> Reply | None:
    """The abandoned pending reply, now leased to `owner`; None when it finished or another process took it."""
    reply = session.get(Reply, reply_id)
    if reply is None or reply.status != ReplyStatus.PENDING:
        return None
    if not take_lease(session, _reply_lease(reply_id), owner, now, ttl):
        return None
    return reply


def note_resumed(session: Session, reply_id: int) -> None:
    """Marks a reply taken over once, so a second takeover (a crash loop) apologises instead of retrying."""
    session.execute(update(Reply).where(Reply.id == reply_id).values(error=RESUMED_NOTE))


def get_reply(session: Session, reply_id: int) -> Reply | None:
    return session.get(Reply, reply_id)


def reply_for_source(session: Session, channel: str, source_ts: str) -> Reply | None:
    """The reply claimed for one user message, whatever its state."""
    return session.scalar(select(Reply).where(Reply.channel == channel, Reply.source_ts == source_ts))


def is_bot_thread(session: Session, channel: str, thread_ts: str) -> bool:
    """Whether the bot has answered in this thread: follow-ups there are for it even without a mention."""
    return session.scalar(
        select(Reply.id).where(Reply.channel == channel, Reply.thread_ts == thread_ts).limit(1)
    ) is not None


def find_reply(session: Session, channel: str, ts: str) -> Reply | None:
    return session.scalar(select(Reply).where(Reply.channel == channel, Reply.ts == ts))


def model_answer_before(session: Session, channel: str, thread_ts: str, before_ts: str) -> Reply | None:
    """The model's latest finished answer in a thread before a given message: what a suggestion improves on."""
    answers = session.scalars(
        select(Reply)
        .where(Reply.channel == channel, Reply.thread_ts == thread_ts, Reply.status == ReplyStatus.ANSWERED,
               Reply.author == ReplyAuthor.MODEL)
        .order_by(Reply.id.desc())
    ).all()
    return next((a for a in answers if a.ts and float(a.ts) < float(before_ts)), None)


@dataclass(frozen=True)
class Curation:
    """Whose votes count (CURATOR_USER_IDS; empty: everyone's) and how many approvals make an example.

    The person who wrote an answer (a `better: …` suggestion, the latest correction) does not count among
    its approvers unless self_approval (ALLOW_SELF_APPROVAL): someone else must approve what they wrote.
    """

    curators: frozenset[str] = frozenset()
    required: int = 1  # APPROVALS_REQUIRED: distinct curators approving
    self_approval: bool = False

    def counts(self, user_id: str) -> bool:
        return not self.curators or user_id in self.curators


EVERYONE = Curation()


def answer_author():
    """The person who wrote the text a reply's example teaches: its latest correction's, else its suggester; NULL: the model."""
    latest_corrector = (
        select(Correction.user_id).where(Correction.reply_id == Reply.id).order_by(Correction.id.desc()).limit(1)
        .correlate(Reply).scalar_subquery()
    )
    return func.coalesce(latest_corrector, Reply.suggested_by)


def answer_changed_at():
    """When the text a reply's example teaches last changed (its latest correction); NULL: never since it was posted."""
    return select(func.max(Correction.created_at)).where(Correction.reply_id == Reply.id).correlate(Reply).scalar_subquery()


def approved_filter(curation: Curation = EVERYONE):
    """Enough distinct curators approve (the answer's author aside, see Curation), and no curator votes against (a veto).

    A vote is on the text as it stood when cast: after a correction only votes cast since count, so nobody's
    earlier approval carries over to words they never saw (and an earlier "bad answer" no longer vetoes).
    """
    changed_at = answer_changed_at()
    votes = [Approval.reply_id == Reply.id, Approval.active.is_(True),
             or_(changed_at.is_(None), Approval.created_at >= changed_at)]
    if curation.curators:
        votes.append(Approval.user_id.in_(sorted(curation.curators)))
    approvers = [*votes, Approval.positive.is_(True)]
    if not curation.self_approval:
        approvers.append(Approval.user_id != func.coalesce(answer_author(), ""))
    approving = select(func.count(distinct(Approval.user_id))).where(*approvers).correlate(Reply).scalar_subquery()
    vetoed = exists().where(*votes, Approval.positive.is_(False))
    return and_(approving >= curation.required, ~vetoed)


def approved_replies(session: Session, curation: Curation = EVERYONE) -> Sequence[Reply]:
    """Answered replies the curators approved (and none vetoed), oldest first."""
    return session.scalars(
        select(Reply).where(Reply.status == ReplyStatus.ANSWERED, approved_filter(curation)).order_by(Reply.id)
    ).all()


def vetoed_filter(curation: Curation = EVERYONE):
    """A curator voted against the reply (a reject emoji, the negative button): it is a bad answer."""
    votes = [Approval.reply_id == Reply.id, Approval.active.is_(True), Approval.positive.is_(False)]
    if curation.curators:
        votes.append(Approval.user_id.in_(sorted(curation.curators)))
    return exists().where(*votes)


@dataclass(frozen=True)
class CuratedReply:
    """An answered reply someone judged (a vote or a correction): what datasets and preference pairs are built from."""

    id: int
    channel: str
    thread_ts: str
    messages: list[dict[str, Any]]  # the conversation exactly as the model saw it
    original: str  # the reply as posted
    corrected: str | None  # its latest correction, when someone improved it
    approved: bool  # enough curators approve and none vetoes
    bad: bool  # a curator voted against it

    @property
    def answer(self) -> str:
        """The approved answer: the latest correction, else the reply."""
        return self.corrected if self.corrected is not None else self.original

    @property
    def thread(self) -> str:
        return f"{self.channel}/{self.thread_ts}"


def curated_replies(session: Session, curation: Curation = EVERYONE, *, approved_only: bool = False) -> list[CuratedReply]:
    """Answered replies with an active vote or a correction (only the approved ones when asked), oldest first."""
    latest = (
        select(Correction.text).where(Correction.reply_id == Reply.id).order_by(Correction.id.desc()).limit(1)
        .correlate(Reply).scalar_subquery()
    )
    approved, bad = approved_filter(curation), vetoed_filter(curation)
    judged = or_(exists().where(Approval.reply_id == Reply.id, Approval.active.is_(True)),
                 exists().where(Correction.reply_id == Reply.id))
    rows = session.execute(
        select(Reply.id, Reply.channel, Reply.thread_ts, Reply.messages, Reply.reply_text, latest,
               case((approved, True), else_=False), case((bad, True), else_=False))
        .where(Reply.status == ReplyStatus.ANSWERED, approved if approved_only else judged)
        .order_by(Reply.id)
    ).all()
    return [CuratedReply(row[0], row[1], row[2], list(row[3] or []), row[4] or "", row[5], bool(row[6]), bool(row[7]))
            for row in rows]


def trained_filter():
    """A reply is trained on when it was in the dataset of a job that succeeded."""
    return exists().where(
        DatasetExample.reply_id == Reply.id,
        DatasetExample.dataset_id == FineTuneJob.dataset_id,
        FineTuneJob.state == JobState.SUCCEEDED,
    )


def trained_reply_ids(session: Session) -> set[int]:
    return set(session.scalars(select(Reply.id).where(trained_filter())).all())


@dataclass(frozen=True)
class ExampleCounts:
    approved: int
    untrained: int


def example_counts(session: Session, curation: Curation = EVERYONE) -> ExampleCounts:
    base = select(func.count(Reply.id)).where(Reply.status == ReplyStatus.ANSWERED, approved_filter(curation))
    approved = session.scalar(base) or 0
    untrained = session.scalar(base.where(~trained_filter())) or 0
    return ExampleCounts(approved=approved, untrained=untrained)


def last_approved_channel(session: Session) -> str | None:
    return session.scalar(
        select(Reply.channel)
        .join(Approval, Approval.reply_id == Reply.id)
        .where(Approval.active.is_(True))
        .order_by(Approval.id.desc())
        .limit(1)
    )


# --- approvals ------------------------------------------------------------------------------------


def add_approval(
    session: Session, reply: Reply, user_id: str, reaction: str, now: datetime, event_ts: str | None = None,
    *, positive: bool = True, recast_before: datetime | None = None,
) -> bool:
    """True when this makes the person's vote (emoji or button) count (it did not before).

    recast_before: the answer's text changed then (a correction); a vote still standing from before is cast
    again now, on the text as it is, and that counts as a change too.
    """
    return _apply_reaction(session, reply, user_id, reaction, now, event_ts, active=True, positive=positive,
                           recast_before=recast_before)


def remove_approval(
    session: Session, reply: Reply, user_id: str, reaction: str, now: datetime, event_ts: str | None = None,
    *, positive: bool = True,
) -> bool:
    """True when the person's vote counted and no longer does."""
    return _apply_reaction(session, reply, user_id, reaction, now, event_ts, active=False, positive=positive)


def _apply_reaction(
    session: Session, reply: Reply, user_id: str, reaction: str, now: datetime, event_ts: str | None, *, active: bool,
    positive: bool = True, recast_before: datetime | None = None,
) -> bool:
    """Applies a reaction event unless a later one for the same reply, person and emoji was applied already.

    created_at is when the vote was last cast: a vote taken back and cast again is cast anew.
    """
    where = (Approval.reply_id == reply.id, Approval.user_id == user_id, Approval.reaction == reaction)
    row = session.scalar(select(Approval).where(*where).with_for_update())
    if row is None:
        try:
            with session.begin_nested():
                session.add(Approval(reply_id=reply.id, user_id=user_id, reaction=reaction, active=active,
                                     positive=positive, event_ts=event_ts or "0", created_at=now))
            return active
        except IntegrityError:  # the same emoji's other event got there first
            row = session.scalar(select(Approval).where(*where).with_for_update())
            assert row is not None, "the row that won the insert race is there"
    if event_ts is not None and float(event_ts) <= float(row.event_ts):
        return False
    changed = row.active != active
    recast = active and row.active and recast_before is not None and row.created_at < recast_before
    if (changed and active) or recast:
        row.created_at = now
    row.active = active
    row.event_ts = event_ts or row.event_ts
    return changed or recast


def approval_count(session: Session, reply: Reply) -> int:
    """Approving votes that count now (votes against are not approvals)."""
    return session.scalar(
        select(func.count(Approval.id)).where(
            Approval.reply_id == reply.id, Approval.active.is_(True), Approval.positive.is_(True)
        )
    ) or 0


def active_vote(session: Session, reply: Reply, user_id: str, signal: str) -> bool:
    """Whether this person's vote by `signal` (an emoji, a button) counts now."""
    return bool(session.scalar(
        select(Approval.active).where(Approval.reply_id == reply.id, Approval.user_id == user_id,
                                      Approval.reaction == signal)
    ))


# --- corrections ----------------------------------------------------------------------------------


def add_correction(session: Session, reply: Reply, user_id: str, text: str, source: str, now: datetime) -> Correction:
    correction = Correction(reply_id=reply.id, user_id=user_id, text=text, source=source, created_at=now)
    session.add(correction)
    session.flush()
    return correction


def latest_correction(session: Session, reply_id: int) -> Correction | None:
    return session.scalar(
        select(Correction).where(Correction.reply_id == reply_id).order_by(Correction.id.desc()).limit(1)
    )


# --- datasets and jobs ----------------------------------------------------------------------------


def create_dataset(
    session: Session,
    *,
    reply_ids: Iterable[int],
    jsonl: str,
    sha256: str,
    skipped: list[dict[str, Any]],
    now: datetime,
    validation_jsonl: str | None = None,
    example_count: int | None = None,
) -> Dataset:
    """`reply_ids`: every reply the files use; `example_count`: the training examples (default: one per reply)."""
    ids = list(reply_ids)
    dataset = Dataset(created_at=now, example_count=len(ids) if example_count is None else example_count, jsonl=jsonl,
                      sha256=sha256, skipped=skipped, validation_jsonl=validation_jsonl or None)
    dataset.examples = [DatasetExample(reply_id=reply_id) for reply_id in ids]
    session.add(dataset)
    session.flush()
    return dataset


def create_job(session: Session, job: FineTuneJob) -> int:
    session.add(job)
    session.flush()
    return job.id


def transition_job(
    session: Session, job_id: int, expected: JobState, target: JobState, now: datetime, **fields: Any
) -> bool:
    """Compare-and-set: moves the job to `target` only if it is still in `expected`; False when it was not.

    Two processes (or a poll racing a cancel) can never both move one job out of the same state.
    """
    result = session.execute(
        update(FineTuneJob)
        .where(FineTuneJob.id == job_id, FineTuneJob.state == expected)
        .values(state=target, updated_at=now, **fields)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(_changed(result))


def update_job(session: Session, job_id: int, expected: JobState, now: datetime, **fields: Any) -> bool:
    """Changes a job's other fields only while it is in `expected` (the same compare-and-set, no move)."""
    return transition_job(session, job_id, expected, expected, now, **fields)


def jobs_in_states(session: Session, states: Iterable[JobState]) -> Sequence[FineTuneJob]:
    return session.scalars(
        select(FineTuneJob).where(FineTuneJob.state.in_(list(states))).order_by(FineTuneJob.id)
    ).all()


def latest_job(session: Session) -> FineTuneJob | None:
    return session.scalar(select(FineTuneJob).order_by(FineTuneJob.id.desc()).limit(1))


def get_job(session: Session, job_id: int) -> FineTuneJob | None:
    return session.get(FineTuneJob, job_id)


def require_job(session: Session, job_id: int) -> FineTuneJob:
    """A job the caller knows exists (it holds its id from an earlier read)."""
    job = session.get(FineTuneJob, job_id)
    if job is None:
        raise LookupError(f"fine-tuning job {job_id} does not exist")
    return job


def take_lease(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """True when `owner` holds the lease until now + ttl: it was free, expired (or given back), or already ours."""
    try:
        with session.begin_nested():
            session.add(PipelineLease(name=name, owner=owner, expires_at=now + ttl))
        return True
    except IntegrityError:
        pass
    taken = session.execute(
        update(PipelineLease)
        .where(PipelineLease.name == name, (PipelineLease.owner == owner) | (PipelineLease.expires_at <= now))
        .values(owner=owner, expires_at=now + ttl)
    )
    return bool(_changed(taken))


def renew_lease(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """The holder's heartbeat: pushes its expiry on; False when the lease is no longer `owner`'s."""
    renewed = session.execute(
        update(PipelineLease).where(PipelineLease.name == name, PipelineLease.owner == owner).values(expires_at=now + ttl)
    )
    return bool(_changed(renewed))


def release_lease(session: Session, name: str, owner: str, now: datetime) -> None:
    session.execute(
        update(PipelineLease).where(PipelineLease.name == name, PipelineLease.owner == owner).values(expires_at=now)
    )


def lease_holder(session: Session, name: str) -> PipelineLease | None:
    return session.get(PipelineLease, name)


def spent_training_files(session: Session, ended: Iterable[JobState], limit: int = 20) -> list[tuple[int, str, str]]:
    """(job id, backend, file id) of jobs that ended with a training file still at their backend."""
    rows = session.execute(
        select(FineTuneJob.id, FineTuneJob.provider, FineTuneJob.file_id)
        .where(FineTuneJob.state.in_(list(ended)), FineTuneJob.file_id.is_not(None), FineTuneJob.file_deleted_at.is_(None))
        .order_by(FineTuneJob.id)
        .limit(limit)
    )
    return [(job_id, provider, file_id) for job_id, provider, file_id in rows if file_id is not None]


def mark_file_deleted(session: Session, job_id: int, now: datetime) -> bool:
    result = session.execute(
        update(FineTuneJob).where(FineTuneJob.id == job_id, FineTuneJob.file_deleted_at.is_(None)).values(file_deleted_at=now)
    )
    return bool(_changed(result))


# --- the reply model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveModel:
    model: str
    since: datetime | None  # None: the configured base model, never swapped
    job_id: int | None
    unavailable: str | None = None  # the fine-tuned model that should answer but is no longer served


def active_model(session: Session, default: str) -> ActiveModel:
    row = session.scalar(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(1))
    if row is None:
        return ActiveModel(model=default, since=None, job_id=None)
    if row.unavailable_at is not None:
        return ActiveModel(model=default, since=row.unavailable_at, job_id=None, unavailable=row.model)
    return ActiveModel(model=row.model, since=row.activated_at, job_id=row.job_id)


def mark_model_unavailable(session: Session, model: str, now: datetime) -> bool:
    """Records once that the provider no longer serves `model`; True for the first caller."""
    result = session.execute(
        update(ModelActivation)
        .where(ModelActivation.model == model, ModelActivation.unavailable_at.is_(None))
        .values(unavailable_at=now)
    )
    return bool(_changed(result))


def job_serving(session: Session, model: str) -> FineTuneJob | None:
    """The succeeded job whose deployed model answers to `model`."""
    return session.scalar(
        select(FineTuneJob).where(FineTuneJob.fine_tuned_model == model, FineTuneJob.state == JobState.SUCCEEDED)
        .order_by(FineTuneJob.id.desc()).limit(1)
    )


def models_before_latest(session: Session) -> list[tuple[str, str | None]]:
    """Models swapped in before the active one, with the backend that serves each: candidates to unload."""
    latest = session.scalar(select(func.max(ModelActivation.id)))
    if latest is None:
        return []
    rows = session.execute(
        select(ModelActivation.model, FineTuneJob.provider)
        .outerjoin(FineTuneJob, FineTuneJob.id == ModelActivation.job_id)
        .where(ModelActivation.id < latest)
        .order_by(ModelActivation.id)
    )
    return [(model, provider) for model, provider in rows]


def activate_model(session: Session, model: str, job_id: int | None, now: datetime) -> None:
    session.add(ModelActivation(model=model, job_id=job_id, activated_at=now))


# --- the outbox -----------------------------------------------------------------------------------


def enqueue_notification(
    session: Session, kind: NotificationKind, payload: dict[str, Any], now: datetime
) -> Notification:
    note = Notification(kind=kind, payload=payload, created_at=now, attempts=0)
    session.add(note)
    session.flush()
    return note


def _claimable(now: datetime | None):
    """Unsent, and nobody's claim on it (or the claim ran out: its poster stopped)."""
    free = Notification.sent_at.is_(None)
    if now is None:
        return free
    return and_(free, (Notification.claimed_by.is_(None)) | (Notification.claimed_until < now))


def pending_notifications(
    session: Session, max_attempts: int = 5, limit: int = 20, *, now: datetime | None = None, after: int = 0
) -> Sequence[Notification]:
    """Unsent notes that have not used up their attempts, oldest first from id `after` on; with `now`, only those
    no live poster holds."""
    return session.scalars(
        select(Notification)
        .where(_claimable(now), Notification.attempts < max_attempts, Notification.id > after)
        .order_by(Notification.id)
        .limit(limit)
    ).all()


def claim_notification(
    session: Session, note_id: int, owner: str, now: datetime, ttl: timedelta, *, channel: str | None,
    max_attempts: int = 5,
) -> Notification | None:
    """Compare-and-set: `owner` takes the note for one attempt (counted now, so a crash mid-post counts).

    The first attempt's time and `channel` are kept: where a later attempt looks for its message.
    None when it was sent meanwhile, another poster holds it, or its attempts are used up.
    """
    values: dict[str, Any] = {"claimed_by": owner, "claimed_until": now + ttl, "attempts": Notification.attempts + 1,
                              "first_attempt_at": func.coalesce(Notification.first_attempt_at, now)}
    if channel is not None:
        values["channel"] = func.coalesce(Notification.channel, channel)
    result = session.execute(
        update(Notification)
        .where(Notification.id == note_id, _claimable(now), Notification.attempts < max_attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not _changed(result):
        return None
    session.expire_all()
    return session.get(Notification, note_id)


def finish_notification_attempt(
    session: Session, note_id: int, owner: str, now: datetime, *, error: str | None, slack_ts: str | None = None
) -> bool:
    """Ends `owner`'s attempt: sent when `error` is None, else its last error kept for status; the claim is let go.

    False when the claim was no longer `owner`'s (it ran out and another poster took the note).
    """
    values: dict[str, Any] = {"last_error": error, "claimed_by": None, "claimed_until": None}
    if error is None:
        values.update(sent_at=now, slack_ts=slack_ts)
    result = session.execute(
        update(Notification).where(Notification.id == note_id, Notification.claimed_by == owner).values(**values)
    )
    return bool(_changed(result))
