"""The job pipeline: gathers the facts for finetune.decision, and walks each job through finetune.states.

Every step reads the job from the database and writes its new state back (a compare-and-set) before
the next provider call, so a restart resumes where the last process stopped. finetune.lease keeps a
second process off the pipeline; announcements go to the notifications outbox as finetune.states
declares them, and posting them is the Slack side's business.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from finetune import decision
from finetune.clock import Clock
from finetune.dataset import build_dataset
from finetune.lease import BUSY, Lease
from finetune.provider import FineTuningProvider, ProviderError, ProviderJob, ProviderRefused
from finetune.states import ANNOUNCEMENTS, IN_FLIGHT, JobState, check_transition
from finetune.validation import MIN_EXAMPLES
from finetune.views import JobNotice, JobView, Outcome, PipelineStatus, TickResult
from storage import queries
from storage.db import Database
from storage.enums import Trigger
from storage.models import FineTuneJob

log = logging.getLogger("finetune.pipeline")

# What the provider reports on a job; anything else (queued, running, a value new to us) means "still going".
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"


@dataclass(frozen=True)
class PipelineConfig:
    base_model: str
    min_examples: int = MIN_EXAMPLES
    suffix: str | None = None
    max_attempts: int = 5  # transient provider errors in a row before a job is given up


class Pipeline:
    """Plain Python: the scheduler, the CLI and the Slack handlers all call the same methods."""

    def __init__(self, db: Database, provider: FineTuningProvider, clock: Clock, config: PipelineConfig) -> None:
        self.db = db
        self.provider = provider
        self.clock = clock
        self.config = config
        self.lease = Lease(db, clock)
        self.rules = decision.Rules(min_new=config.min_examples, provider_minimum=MIN_EXAMPLES)

    # --- public operations ------------------------------------------------------------------------

    def tick(self, *, trigger: Trigger = Trigger.SCHEDULE) -> TickResult:
        """Starts a job when there is enough new approved material and nothing is in flight."""
        with self.lease.held() as held:
            if not held:
                return TickResult(Outcome.BUSY, BUSY)
            with self.db.session() as session:
                started = self._prepare(session, trigger)
            if isinstance(started, TickResult):
                log.info("tick %s: %s", started.outcome, started.message)
                return started
            return self._advance(started)

    def poll(self) -> list[JobView]:
        """Moves every in-flight job on: retries pending uploads/creations, and reads the provider's status."""
        with self.lease.held() as held:
            if not held:
                log.info("poll skipped: %s", BUSY)
                return []
            with self.db.session() as session:
                ids = [job.id for job in queries.jobs_in_states(session, IN_FLIGHT)]
            for job_id in ids:
                self._advance(job_id, refresh=True)
            with self.db.session() as session:
                return [JobView.of(queries.require_job(session, job_id)) for job_id in ids]

    def cancel(self) -> TickResult:
        with self.lease.held() as held:
            if not held:
                return TickResult(Outcome.BUSY, BUSY)
            with self.db.session() as session:
                jobs = queries.jobs_in_states(session, IN_FLIGHT)
                if not jobs:
                    return TickResult(Outcome.IDLE, "No fine-tuning job is in flight.")
                job_id, state, provider_job_id = jobs[-1].id, jobs[-1].state, jobs[-1].provider_job_id
            if provider_job_id is None and (twin := self._remote_twin(job_id)) is not None:
                self._adopt(job_id, twin)  # created after all: cancel it at the provider, not only here
                provider_job_id = twin.id
            if provider_job_id is None:
                with self.db.session() as session:
                    moved = self._transition(session, job_id, state, JobState.CANCELLED, finished_at=self.clock.now())
                if not moved:
                    return TickResult(Outcome.IN_FLIGHT, f"Job {job_id} moved on meanwhile; try again.", job_id)
                return TickResult(Outcome.CANCELLED, f"Job {job_id} cancelled before it reached the provider.", job_id)
            try:
                remote = self.provider.cancel_job(provider_job_id)
            except ProviderError as exc:
                return TickResult(
                    Outcome.FAILED, f"The provider would not cancel {provider_job_id}: {exc.message}", job_id
                )
            self._apply_remote(job_id, remote)
            return TickResult(Outcome.CANCELLED, f"Cancellation of {provider_job_id} requested.", job_id)

    def status(self) -> PipelineStatus:
        with self.db.session() as session:
            latest = queries.latest_job(session)
            return PipelineStatus(
                active=queries.active_model(session, self.config.base_model),
                counts=queries.example_counts(session),
                min_examples=self.config.min_examples,
                last_job=JobView.of(latest) if latest else None,
                paused_reason=decision.paused_reason(_last_job(latest)),
                accepts_jobs_until=self.provider.accepts_jobs_until,
            )

    # --- deciding -------------------------------------------------------------------------------

    def _prepare(self, session: Session, trigger: Trigger) -> TickResult | int:
        """Asks finetune.decision with the facts it needs; creates the job (state preparing) on a yes."""
        in_flight = queries.jobs_in_states(session, IN_FLIGHT)
        backlog = decision.Backlog(
            in_flight=decision.InFlight(in_flight[-1].id, JobView.of(in_flight[-1]).label) if in_flight else None,
            untrained=queries.example_counts(session).untrained,
        )
        if (no := decision.before_building(backlog, trigger, self.rules)) is not None:
            return no
        built = build_dataset(queries.approved_replies(session))
        candidate = decision.Candidate(
            valid=len(built),
            new=len(set(built.reply_ids) - queries.trained_reply_ids(session)),
            skipped=len(built.skipped),
            sha256=built.sha256,
        )
        latest = queries.latest_job(session)
        if (no := decision.verdict(candidate, _last_job(latest), trigger, self.rules)) is not None:
            return no
        now = self.clock.now()
        dataset = queries.create_dataset(
            session, reply_ids=built.reply_ids, jsonl=built.jsonl, sha256=built.sha256, skipped=built.skipped, now=now
        )
        job_id = queries.create_job(
            session,
            FineTuneJob(
                dataset_id=dataset.id,
                state=JobState.PREPARING,
                trigger=trigger,
                provider=self.provider.name,
                base_model=self.config.base_model,
                suffix=self.config.suffix,
                attempts=0,
                created_at=now,
                updated_at=now,
            ),
        )
        log.info("job %s prepared: %s examples (%s skipped), trigger=%s", job_id, len(built), len(built.skipped), trigger)
        return job_id

    # --- walking the state machine ----------------------------------------------------------------

    def _advance(self, job_id: int, *, refresh: bool = False) -> TickResult:
        """Takes a job as far as it can go now; `refresh` also asks the provider about a submitted one."""
        steps = {JobState.PREPARING: self._upload, JobState.UPLOADED: self._create}
        if refresh:
            steps[JobState.SUBMITTED] = self._refresh
        while True:
            with self.db.session() as session:
                state = JobState(queries.require_job(session, job_id).state)
            step = steps.get(state)
            if step is None or not step(job_id) or state == JobState.SUBMITTED:
                return self._result(job_id)

    def _result(self, job_id: int) -> TickResult:
        with self.db.session() as session:
            job = JobView.of(queries.require_job(session, job_id))
        if job.state == JobState.SUBMITTED:
            return TickResult(Outcome.SUBMITTED, f"Job {job.provider_job_id} submitted ({job.example_count} examples).", job.id)
        if job.state in (JobState.PREPARING, JobState.UPLOADED):
            return TickResult(Outcome.RETRYING, f"Job {job.id} will be retried: {job.error_message}", job.id)
        outcome = Outcome.SUBMITTED if job.state == JobState.SUCCEEDED else Outcome(job.state.value)
        return TickResult(outcome, job.error_message or f"Job {job.id} is {job.state}.", job.id)

    def _upload(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            filename = f"finetune-bot-dataset-{job.dataset_id}.jsonl"
            content = job.dataset.jsonl.encode()
        try:
            file_id = self.provider.upload_training_file(filename, content)
        except ProviderError as exc:
            self._provider_failed(job_id, JobState.PREPARING, exc, "upload")
            return False
        with self.db.session() as session:
            moved = self._transition(
                session, job_id, JobState.PREPARING, JobState.UPLOADED,
                file_id=file_id, attempts=0, error_message=None, error_code=None,
            )
        if moved:
            log.info("job %s uploaded training file %s", job_id, file_id)
        return moved

    def _create(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            metadata = _metadata(job)
            model, file_id, suffix = job.base_model, job.file_id, job.suffix
        assert file_id is not None, "an uploaded job has its file"
        try:
            # An earlier attempt may have created the job and then lost the answer, or lost our record of
            # it (a crash, a failed commit): always look before creating.
            remote = self.provider.find_job(metadata)
            if remote is None:
                remote = self.provider.create_job(model=model, training_file=file_id, suffix=suffix, metadata=metadata)
        except ProviderError as exc:
            self._provider_failed(job_id, JobState.UPLOADED, exc, "job creation")
            return False
        return self._adopt(job_id, remote)

    def _adopt(self, job_id: int, remote: ProviderJob) -> bool:
        with self.db.session() as session:
            moved = self._transition(
                session, job_id, JobState.UPLOADED, JobState.SUBMITTED,
                provider_job_id=remote.id, provider_status=remote.status, submitted_at=self.clock.now(),
                attempts=0, error_message=None, error_code=None,
            )
        if moved:
            log.info("job %s submitted as %s", job_id, remote.id)
        return moved

    def _remote_twin(self, job_id: int) -> ProviderJob | None:
        """The provider's job for this one, if a creation went through unseen; None when unknown or unreachable."""
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            if job.state != JobState.UPLOADED:
                return None
            metadata = _metadata(job)
        try:
            return self.provider.find_job(metadata)
        except ProviderError:
            return None

    def _refresh(self, job_id: int) -> bool:
        with self.db.session() as session:
            provider_job_id = queries.require_job(session, job_id).provider_job_id
        assert provider_job_id is not None, "a submitted job has the provider's id"
        try:
            remote = self.provider.get_job(provider_job_id)
        except ProviderRefused as exc:
            if exc.status != 404:  # a rotated key or a permission change: the job itself may be fine
                log.warning("job %s: reading %s was refused (%s): %s", job_id, provider_job_id, exc.status, exc.message)
                return False
            with self.db.session() as session:
                self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.FAILED,
                    error_message=f"the provider no longer knows job {provider_job_id}: {exc.message}",
                    error_code=exc.code, finished_at=self.clock.now(),
                )
            return False
        except ProviderError as exc:
            log.warning("job %s: could not read %s from the provider: %s", job_id, provider_job_id, exc.message)
            return False
        self._apply_remote(job_id, remote)
        return True

    def _apply_remote(self, job_id: int, remote: ProviderJob) -> None:
        now = self.clock.now()
        finished = remote.finished_at or now
        with self.db.session() as session:
            if not queries.update_job(session, job_id, JobState.SUBMITTED, now, provider_status=remote.status):
                return  # no longer submitted: another step already recorded its end
            if remote.status == SUCCEEDED and remote.fine_tuned_model:
                if self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.SUCCEEDED,
                    fine_tuned_model=remote.fine_tuned_model, trained_tokens=remote.trained_tokens, finished_at=finished,
                ):
                    queries.activate_model(session, remote.fine_tuned_model, job_id, now)
                    log.info("job %s succeeded: %s is now the reply model", job_id, remote.fine_tuned_model)
            elif remote.status in (FAILED, SUCCEEDED):
                message = remote.error_message or "the provider reported the job failed without a reason"
                self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.FAILED,
                    error_message=message, error_code=remote.error_code, finished_at=finished,
                )
                log.info("job %s failed: %s", job_id, message)
            elif remote.status == CANCELLED:
                self._transition(session, job_id, JobState.SUBMITTED, JobState.CANCELLED, finished_at=finished)
                log.info("job %s was cancelled", job_id)

    def _provider_failed(self, job_id: int, state: JobState, exc: ProviderError, doing: str) -> None:
        """A refusal ends the job at once; a passing error is retried by the poller, a few times at most."""
        with self.db.session() as session:
            attempts = queries.require_job(session, job_id).attempts + 1
        if attempts >= self.config.max_attempts and (twin := self._remote_twin(job_id)) is not None:
            self._adopt(job_id, twin)
            return
        fields: dict[str, Any] = {"error_message": exc.message, "error_code": exc.code, "attempts": attempts}
        now = self.clock.now()
        with self.db.session() as session:
            if isinstance(exc, ProviderRefused):
                self._transition(session, job_id, state, JobState.REFUSED, finished_at=now, **fields)
                log.warning("job %s: %s refused (%s): %s", job_id, doing, exc.status, exc.message)
            elif attempts >= self.config.max_attempts:
                fields["error_message"] = f"{doing} failed {attempts} times; last error: {exc.message}"
                self._transition(session, job_id, state, JobState.FAILED, finished_at=now, **fields)
                log.warning("job %s: giving up after %s attempts: %s", job_id, attempts, exc.message)
            elif queries.update_job(session, job_id, state, now, **fields):
                log.warning("job %s: %s failed (attempt %s), will retry: %s", job_id, doing, attempts, exc.message)

    # --- one move ---------------------------------------------------------------------------------

    def _transition(self, session: Session, job_id: int, expected: JobState, target: JobState, **fields: Any) -> bool:
        """Moves the job if it is still in `expected`, and queues the announcement finetune.states declares."""
        check_transition(expected, target)
        now = self.clock.now()
        if not queries.transition_job(session, job_id, expected, target, now, **fields):
            log.info("job %s was no longer %s; leaving it as the other step left it", job_id, expected)
            return False
        if (kind := ANNOUNCEMENTS.get(target)) is not None:
            notice = JobNotice(kind, JobView.of(queries.require_job(session, job_id)))
            queries.enqueue_notification(session, kind, notice.payload(), now)
        return True


def _last_job(job: FineTuneJob | None) -> decision.LastJob | None:
    if job is None:
        return None
    return decision.LastJob(job.id, JobState(job.state), job.dataset.sha256, job.error_message)


def _metadata(job: FineTuneJob) -> dict[str, str]:
    """What makes a job findable at the provider when the answer to its creation was lost."""
    return {
        "finetune_bot_job": str(job.id),
        "finetune_bot_dataset": str(job.dataset_id),
        "finetune_bot_sha256": job.dataset.sha256[:16],
    }
