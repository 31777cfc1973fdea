"""The job pipeline: decides when to train, walks each job through finetune.states, and records outcomes.

Every step reads the job from the database and writes its new state back before the next provider call,
so a restart resumes where the last process stopped. A lease in the database lets one process at a
time work the pipeline, so two processes on one database (a rolling deploy) never start two jobs.
Announcements go to the notifications outbox; posting them is the Slack side's business.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from finetune.clock import Clock
from finetune.dataset import build_dataset
from finetune.provider import FineTuningProvider, ProviderError, ProviderJob, ProviderRefused
from finetune.states import IN_FLIGHT, JobState, check_transition
from finetune.validation import MIN_EXAMPLES
from storage import queries
from storage.db import Database
from storage.models import FineTuneJob

log = logging.getLogger("finetune.pipeline")

LEASE = "finetune-pipeline"
LEASE_TTL = timedelta(minutes=15)  # longer than any one step; a process that died frees it by then
BUSY = "Another bot process is working on fine-tuning right now; try again in a minute."

SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"


@dataclass(frozen=True)
class PipelineConfig:
    base_model: str
    min_examples: int = MIN_EXAMPLES
    suffix: str | None = None
    max_attempts: int = 5  # transient provider errors in a row before a job is given up


@dataclass(frozen=True)
class TickResult:
    outcome: str  # submitted | in_flight | not_enough | paused | unchanged | refused | retrying | failed | cancelled | idle | busy
    message: str
    job_id: int | None = None


@dataclass(frozen=True)
class JobView:
    id: int
    state: str
    trigger: str
    provider: str
    base_model: str
    example_count: int
    provider_job_id: str | None
    provider_status: str | None
    fine_tuned_model: str | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: FineTuneJob) -> JobView:
        return cls(
            id=job.id,
            state=job.state,
            trigger=job.trigger,
            provider=job.provider,
            base_model=job.base_model,
            example_count=job.dataset.example_count,
            provider_job_id=job.provider_job_id,
            provider_status=job.provider_status,
            fine_tuned_model=job.fine_tuned_model,
            error_code=job.error_code,
            error_message=job.error_message,
            attempts=job.attempts,
            created_at=job.created_at,
            submitted_at=job.submitted_at,
            finished_at=job.finished_at,
        )

    def as_payload(self) -> dict[str, Any]:
        """JSON-ready, for the notifications outbox."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class PipelineStatus:
    active: queries.ActiveModel
    counts: queries.ExampleCounts
    min_examples: int
    last_job: JobView | None
    paused_reason: str | None
    accepts_jobs_until: date | None = None


class Pipeline:
    """Plain Python: the scheduler, the CLI and the Slack handlers all call the same methods."""

    def __init__(self, db: Database, provider: FineTuningProvider, clock: Clock, config: PipelineConfig) -> None:
        self.db = db
        self.provider = provider
        self.clock = clock
        self.config = config
        self._lock = threading.RLock()  # one tick/poll at a time in this process...
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # ...and across processes

    @contextmanager
    def _exclusive(self) -> Iterator[bool]:
        """Holds this process's lock and the database lease; yields False when another process has it."""
        with self._lock:
            with self.db.session() as session:
                held = queries.take_lease(session, LEASE, self._owner, self.clock.now(), LEASE_TTL)
            try:
                yield held
            finally:
                if held:
                    with self.db.session() as session:
                        queries.release_lease(session, LEASE, self._owner, self.clock.now())

    # --- public operations ------------------------------------------------------------------------

    def tick(self, *, trigger: str = "schedule") -> TickResult:
        """Starts a job when there is enough new approved material and nothing is in flight."""
        with self._exclusive() as held:
            if not held:
                return TickResult("busy", BUSY)
            with self.db.session() as session:
                decision = self._decide(session, trigger)
            if isinstance(decision, TickResult):
                log.info("tick %s: %s", decision.outcome, decision.message)
                return decision
            return self._advance(decision)

    def poll(self) -> list[JobView]:
        """Moves every in-flight job on: retries pending uploads/creations, and reads the provider's status."""
        with self._exclusive() as held:
            if not held:
                log.info("poll skipped: %s", BUSY)
                return []
            with self.db.session() as session:
                ids = [job.id for job in queries.jobs_in_states(session, IN_FLIGHT)]
            for job_id in ids:
                self._advance(job_id, refresh=True)
            with self.db.session() as session:
                return [JobView.of(queries.get_job(session, job_id)) for job_id in ids]

    def cancel(self) -> TickResult:
        with self._exclusive() as held:
            if not held:
                return TickResult("busy", BUSY)
            with self.db.session() as session:
                jobs = queries.jobs_in_states(session, IN_FLIGHT)
                if not jobs:
                    return TickResult("idle", "No fine-tuning job is in flight.")
                job_id, provider_job_id = jobs[-1].id, jobs[-1].provider_job_id
            if provider_job_id is None and (twin := self._remote_twin(job_id)) is not None:
                self._adopt(job_id, twin)  # created after all: cancel it at the provider, not only here
                provider_job_id = twin.id
            if provider_job_id is None:
                with self.db.session() as session:
                    job = queries.get_job(session, job_id)
                    self._transition(session, job, JobState.CANCELLED, finished_at=self.clock.now())
                    self._announce(session, job, "job_cancelled")
                return TickResult("cancelled", f"Job {job_id} cancelled before it reached the provider.", job_id)
            try:
                remote = self.provider.cancel_job(provider_job_id)
            except ProviderError as exc:
                return TickResult("failed", f"The provider would not cancel {provider_job_id}: {exc.message}", job_id)
            self._apply_remote(job_id, remote)
            return TickResult("cancelled", f"Cancellation of {provider_job_id} requested.", job_id)

    def status(self) -> PipelineStatus:
        with self.db.session() as session:
            latest = queries.latest_job(session)
            return PipelineStatus(
                active=queries.active_model(session, self.config.base_model),
                counts=queries.example_counts(session),
                min_examples=self.config.min_examples,
                last_job=JobView.of(latest) if latest else None,
                paused_reason=self._paused_reason(latest),
                accepts_jobs_until=self.provider.accepts_jobs_until,
            )

    def active_model(self) -> str:
        with self.db.session() as session:
            return queries.active_model(session, self.config.base_model).model

    # --- deciding -------------------------------------------------------------------------------

    def _decide(self, session: Session, trigger: str) -> TickResult | int:
        in_flight = queries.jobs_in_states(session, IN_FLIGHT)
        if in_flight:
            job = in_flight[-1]
            return TickResult("in_flight", f"Job {job.id} is still {job.provider_status or job.state}.", job.id)
        untrained = queries.example_counts(session).untrained  # valid or not: an upper bound, and cheap
        if trigger == "schedule" and untrained < self.config.min_examples:
            return TickResult(
                "not_enough", f"{untrained} new approved example(s); {self.config.min_examples} needed to train."
            )
        built = build_dataset(queries.approved_replies(session))
        new = len(set(built.reply_ids) - queries.trained_reply_ids(session))  # valid ones only
        skipped = f" ({len(built.skipped)} approved example(s) skipped as invalid)" if built.skipped else ""
        if trigger == "schedule" and new < self.config.min_examples:
            return TickResult(
                "not_enough", f"{new} new approved example(s); {self.config.min_examples} needed to train.{skipped}"
            )
        if new == 0:  # a manual run needs only something new
            return TickResult(
                "not_enough", f"No new approved examples since the last successful job: nothing to train on.{skipped}"
            )
        latest = queries.latest_job(session)
        if trigger == "schedule" and (reason := self._paused_reason(latest)):
            return TickResult("paused", reason, latest.id if latest else None)
        if len(built) < MIN_EXAMPLES:
            return TickResult(
                "not_enough",
                f"Only {len(built)} approved example(s) are valid ({len(built.skipped)} skipped); "
                f"fine-tuning needs at least {MIN_EXAMPLES}.",
            )
        if (
            trigger == "schedule"
            and latest is not None
            and latest.state == JobState.FAILED
            and latest.dataset.sha256 == built.sha256
        ):
            return TickResult("unchanged", "The last job failed on exactly these examples; waiting for new ones.")
        now = self.clock.now()
        dataset = queries.create_dataset(
            session, reply_ids=built.reply_ids, jsonl=built.jsonl, sha256=built.sha256, skipped=built.skipped, now=now
        )
        job = FineTuneJob(
            dataset_id=dataset.id,
            state=JobState.PREPARING,
            trigger=trigger,
            provider=self.provider.name,
            base_model=self.config.base_model,
            suffix=self.config.suffix,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(job)
        session.flush()
        log.info("job %s prepared: %s examples (%s skipped), trigger=%s", job.id, len(built), len(built.skipped), trigger)
        return job.id

    @staticmethod
    def _paused_reason(latest: FineTuneJob | None) -> str | None:
        if latest is not None and latest.state == JobState.REFUSED:
            return (
                f"The provider refused the last job: {latest.error_message}. "
                "Scheduled runs are paused; `/finetune run` tries again."
            )
        return None

    # --- walking the state machine ----------------------------------------------------------------

    def _advance(self, job_id: int, *, refresh: bool = False) -> TickResult:
        """Takes a job as far as it can go now; `refresh` also asks the provider about a submitted one."""
        steps = {JobState.PREPARING: self._upload, JobState.UPLOADED: self._create}
        if refresh:
            steps[JobState.SUBMITTED] = self._refresh
        while True:
            with self.db.session() as session:
                state = JobState(queries.get_job(session, job_id).state)
            step = steps.get(state)
            if step is None or not step(job_id) or state == JobState.SUBMITTED:
                return self._result(job_id)

    def _result(self, job_id: int) -> TickResult:
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            if job.state == JobState.SUBMITTED:
                return TickResult("submitted", f"Job {job.provider_job_id} submitted ({job.dataset.example_count} examples).", job.id)
            if job.state in (JobState.PREPARING, JobState.UPLOADED):
                return TickResult("retrying", f"Job {job.id} will be retried: {job.error_message}", job.id)
            outcome = job.state if job.state != JobState.SUCCEEDED else "submitted"
            return TickResult(outcome, job.error_message or f"Job {job.id} is {job.state}.", job.id)

    def _upload(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            filename = f"finetune-bot-dataset-{job.dataset_id}.jsonl"
            content = job.dataset.jsonl.encode()
        try:
            file_id = self.provider.upload_training_file(filename, content)
        except ProviderError as exc:
            self._provider_failed(job_id, exc, "upload")
            return False
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            self._transition(session, job, JobState.UPLOADED, file_id=file_id, attempts=0, error_message=None, error_code=None)
        log.info("job %s uploaded training file %s", job_id, file_id)
        return True

    def _create(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            metadata = self._metadata(job)
            model, file_id, suffix = job.base_model, job.file_id, job.suffix
        try:
            # An earlier attempt may have created the job and then lost the answer, or lost our record of
            # it (a crash, a failed commit): always look before creating.
            remote = self.provider.find_job(metadata)
            if remote is None:
                remote = self.provider.create_job(model=model, training_file=file_id, suffix=suffix, metadata=metadata)
        except ProviderError as exc:
            self._provider_failed(job_id, exc, "job creation")
            return False
        self._adopt(job_id, remote)
        return True

    def _adopt(self, job_id: int, remote: ProviderJob) -> None:
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            self._transition(
                session,
                job,
                JobState.SUBMITTED,
                provider_job_id=remote.id,
                provider_status=remote.status,
                submitted_at=self.clock.now(),
                attempts=0,
                error_message=None,
                error_code=None,
            )
            self._announce(session, job, "job_submitted")
        log.info("job %s submitted as %s", job_id, remote.id)

    def _remote_twin(self, job_id: int) -> ProviderJob | None:
        """The provider's job for this one, if a creation went through unseen; None when unknown or unreachable."""
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            if job.state != JobState.UPLOADED:
                return None
            metadata = self._metadata(job)
        try:
            return self.provider.find_job(metadata)
        except ProviderError:
            return None

    def _refresh(self, job_id: int) -> bool:
        with self.db.session() as session:
            provider_job_id = queries.get_job(session, job_id).provider_job_id
        try:
            remote = self.provider.get_job(provider_job_id)
        except ProviderRefused as exc:
            if exc.status != 404:  # a rotated key or a permission change: the job itself may be fine
                log.warning("job %s: reading %s was refused (%s): %s", job_id, provider_job_id, exc.status, exc.message)
                return False
            with self.db.session() as session:
                job = queries.get_job(session, job_id)
                message = f"the provider no longer knows job {provider_job_id}: {exc.message}"
                self._transition(session, job, JobState.FAILED, error_message=message, error_code=exc.code, finished_at=self.clock.now())
                self._announce(session, job, "job_failed")
            return False
        except ProviderError as exc:
            log.warning("job %s: could not read %s from the provider: %s", job_id, provider_job_id, exc.message)
            return False
        self._apply_remote(job_id, remote)
        return True

    def _apply_remote(self, job_id: int, remote: ProviderJob) -> None:
        now = self.clock.now()
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            if job.state != JobState.SUBMITTED:
                return
            job.provider_status = remote.status
            job.updated_at = now
            if remote.status == SUCCEEDED and remote.fine_tuned_model:
                self._transition(
                    session,
                    job,
                    JobState.SUCCEEDED,
                    fine_tuned_model=remote.fine_tuned_model,
                    trained_tokens=remote.trained_tokens,
                    finished_at=remote.finished_at or now,
                )
                queries.activate_model(session, remote.fine_tuned_model, job.id, now)
                self._announce(session, job, "job_succeeded")
                log.info("job %s succeeded: %s is now the reply model", job_id, remote.fine_tuned_model)
            elif remote.status in (FAILED, SUCCEEDED):
                message = remote.error_message or "the provider reported the job failed without a reason"
                self._transition(
                    session, job, JobState.FAILED, error_message=message, error_code=remote.error_code,
                    finished_at=remote.finished_at or now,
                )
                self._announce(session, job, "job_failed")
                log.info("job %s failed: %s", job_id, message)
            elif remote.status == CANCELLED:
                self._transition(session, job, JobState.CANCELLED, finished_at=remote.finished_at or now)
                self._announce(session, job, "job_cancelled")
                log.info("job %s was cancelled", job_id)

    def _provider_failed(self, job_id: int, exc: ProviderError, doing: str) -> None:
        """A refusal ends the job at once; a passing error is retried by the poller, a few times at most."""
        with self.db.session() as session:
            giving_up = queries.get_job(session, job_id).attempts + 1 >= self.config.max_attempts
        if giving_up and (twin := self._remote_twin(job_id)) is not None:
            self._adopt(job_id, twin)
            return
        with self.db.session() as session:
            job = queries.get_job(session, job_id)
            job.attempts += 1
            fields: dict[str, Any] = {"error_message": exc.message, "error_code": exc.code}
            if isinstance(exc, ProviderRefused):
                self._transition(session, job, JobState.REFUSED, finished_at=self.clock.now(), **fields)
                self._announce(session, job, "job_refused")
                log.warning("job %s: %s refused (%s): %s", job_id, doing, exc.status, exc.message)
            elif job.attempts >= self.config.max_attempts:
                fields["error_message"] = f"{doing} failed {job.attempts} times; last error: {exc.message}"
                self._transition(session, job, JobState.FAILED, finished_at=self.clock.now(), **fields)
                self._announce(session, job, "job_failed")
                log.warning("job %s: giving up after %s attempts: %s", job_id, job.attempts, exc.message)
            else:
                for key, value in fields.items():
                    setattr(job, key, value)
                job.updated_at = self.clock.now()
                log.warning("job %s: %s failed (attempt %s), will retry: %s", job_id, doing, job.attempts, exc.message)

    # --- helpers ---------------------------------------------------------------------------------

    def _transition(self, session: Session, job: FineTuneJob, target: JobState, **fields: Any) -> None:
        job.state = check_transition(job.state, target)
        for key, value in fields.items():
            setattr(job, key, value)
        job.updated_at = self.clock.now()

    def _announce(self, session: Session, job: FineTuneJob, kind: str) -> None:
        session.flush()
        queries.enqueue_notification(session, kind, {"job": JobView.of(job).as_payload()}, self.clock.now())

    @staticmethod
    def _metadata(job: FineTuneJob) -> dict[str, str]:
        return {
            "finetune_bot_job": str(job.id),
            "finetune_bot_dataset": str(job.dataset_id),
            "finetune_bot_sha256": job.dataset.sha256[:16],
        }
