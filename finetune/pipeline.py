"""The job pipeline: gathers the facts for finetune.decision, and walks each job through finetune.states.

Every step reads the job from the database and writes its new state back (a compare-and-set) before
the next backend call, so a restart resumes where the last process stopped. Each job is walked by the
backend recorded on it (finetune.backends.registry), whatever the setting says now. finetune.lease keeps
a second process off the pipeline; announcements go to the notifications outbox as finetune.states
declares them, and posting them is the Slack side's business.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.orm import Session

from finetune import decision
from finetune.backend import (
    Backend,
    BackendError,
    BackendRefused,
    Capabilities,
    Method,
    NoSuchRun,
    RunStatus,
    TrainingRequest,
    TrainingRun,
    method_unsupported,
)
from finetune.backends.registry import Backends
from finetune.chat import ChatError
from finetune.clock import Clock
from finetune.data_redaction import NO_EXTRA, Redactor
from finetune.dataset import BuiltDataset, as_backend_reads, build_dataset
from finetune.lease import BUSY, LEASE_TTL, Lease
from finetune.preferences import build_preferences
from finetune.prices import DEFAULT_PRICES
from finetune.states import ANNOUNCEMENTS, IN_FLIGHT, TERMINAL, JobState, check_transition
from finetune.tokens import TokenCounter, TokenizerUnavailable
from finetune.validator import Report, Rules, validate_text
from finetune.views import JobNotice, JobView, Outcome, PipelineStatus, TickResult
from storage import queries
from storage.db import Database
from storage.enums import NotificationKind, Trigger
from storage.models import FineTuneJob
from storage.queries import EVERYONE, Curation

log = logging.getLogger("finetune.pipeline")
UPLOAD_REFUSED_CODE = "training_file_invalid"  # error_code of a job whose file failed validation before upload


@dataclass(frozen=True)
class TrainingFile:
    filename: str
    content: bytes
    examples: int
    skipped: list[dict[str, Any]]  # {"reply_id", "problems"} for each approved example left out
    backend: str
    report: Report | None = None  # finetune.validator's report on the file, as the upload step checks it
    held_out: int = 0  # examples that would go to the validation file instead
    method: Method = Method.SFT


class SmokeTest(Protocol):
    """One chat completion with a newly deployed model; raises finetune.chat.ChatError when it does not answer."""

    def check(self, model: str) -> None:
        ...


@dataclass(frozen=True)
class PipelineConfig:
    base_model: str
    min_examples: int = 10  # FINETUNE_MIN_EXAMPLES; the backend's own minimum applies as well
    suffix: str | None = None
    method: Method = Method.SFT
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 5  # passing backend errors in a row before a job is given up
    max_deploy_attempts: int = 10  # failed deploys (or smoke tests) in a row before a trained job is given up
    curation: Curation = EVERYONE  # whose approvals make an example, and how many
    holdout_min: int = 50  # FINETUNE_HOLDOUT_MIN: from this many examples on, a tenth is held out (0: never)
    redactor: Redactor = NO_EXTRA  # what is scrubbed from every text before it enters a file (REDACT_PATTERNS)
    model_dir: str | None = None  # the local backend's base model directory: its tokenizer counts the tokens
    prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))  # the validator's cost estimate


class Pipeline:
    """Plain Python: the scheduler, the CLI and the Slack handlers all call the same methods."""

    def __init__(
        self, db: Database, backends: Backends, clock: Clock, config: PipelineConfig, smoke: SmokeTest,
        lease: Lease | None = None,
    ) -> None:
        self.db = db
        self.backends = backends
        self.clock = clock
        self.config = config
        self.smoke = smoke
        self.lease = lease or Lease(db, clock)
        self._undeletable: set[str] = set()  # training files a backend refused to delete: warned about once

    @property
    def backend(self) -> Backend:
        """The backend new jobs go to."""
        return self.backends.default

    @property
    def rules(self) -> decision.Rules:
        return decision.Rules(min_new=self.config.min_examples, provider_minimum=self.backend.capabilities.min_examples)

    # --- public operations ------------------------------------------------------------------------

    def tick(self, *, trigger: Trigger = Trigger.SCHEDULE) -> TickResult:
        """Starts a job when there is enough new approved material and nothing is in flight.

        A person's run waits for a lease whose holder may have died (it runs out within LEASE_TTL), so
        they are never told another process is working when none is.
        """
        with self.lease.held(wait=_PERSON_WAITS if trigger == Trigger.MANUAL else None) as held:
            if not held:
                return TickResult(Outcome.BUSY, BUSY)
            with self.db.session() as session:
                started = self._prepare(session, trigger)
            if isinstance(started, TickResult):
                log.info("tick %s: %s", started.outcome, started.message)
                self._delete_spent_files()
                return started
            result = self._advance(started)
            self._delete_spent_files()
            return result

    def poll(self) -> list[JobView]:
        """Moves every in-flight job on: retries pending uploads/creations, and reads the provider's status."""
        with self.lease.held() as held:
            if not held:  # finetune.lease has said so, once for this wait
                return []
            with self.db.session() as session:
                ids = [job.id for job in queries.jobs_in_states(session, IN_FLIGHT)]
            for job_id in ids:
                self._advance(job_id, refresh=True)
            self._delete_spent_files()
            with self.db.session() as session:
                return [JobView.of(queries.require_job(session, job_id)) for job_id in ids]

    def cancel(self) -> TickResult:
        with self.lease.held(wait=_PERSON_WAITS) as held:
            if not held:
                return TickResult(Outcome.BUSY, BUSY)
            with self.db.session() as session:
                jobs = queries.jobs_in_states(session, IN_FLIGHT)
                if not jobs:
                    return TickResult(Outcome.IDLE, "No fine-tuning job is in flight.")
                job = jobs[-1]
                job_id, state, provider_job_id, served = job.id, JobState(job.state), job.provider_job_id, job.fine_tuned_model
                backend = self._backend_of(job)
            if state in (JobState.TRAINED, JobState.DEPLOYING):
                # trained already: nothing to stop at the backend; just never swap to it
                with self.db.session() as session:
                    moved = self._transition(session, job_id, state, JobState.CANCELLED, finished_at=self.clock.now())
                if not moved:
                    return TickResult(Outcome.IN_FLIGHT, f"Job {job_id} moved on meanwhile; try again.", job_id)
                if served:
                    self._undeploy(backend, served)
                return TickResult(Outcome.CANCELLED, f"Job {job_id} cancelled: its model will not be swapped in.", job_id)
            if provider_job_id is None and (twin := self._remote_twin(job_id)) is not None:
                self._adopt(job_id, twin)  # created after all: cancel it at the backend, not only here
                provider_job_id = twin.id
            if provider_job_id is None:
                with self.db.session() as session:
                    moved = self._transition(session, job_id, state, JobState.CANCELLED, finished_at=self.clock.now())
                if not moved:
                    return TickResult(Outcome.IN_FLIGHT, f"Job {job_id} moved on meanwhile; try again.", job_id)
                return TickResult(Outcome.CANCELLED, f"Job {job_id} cancelled before it reached the {backend.name} backend.", job_id)
            try:
                remote = backend.trainer.cancel(provider_job_id)
            except BackendError as exc:
                return TickResult(
                    Outcome.FAILED, f"The {backend.name} backend would not cancel {provider_job_id}: {exc.message}", job_id
                )
            self._apply_remote(job_id, remote)
            return TickResult(Outcome.CANCELLED, f"Cancellation of {provider_job_id} requested.", job_id)

    def close(self) -> None:
        """A clean stop: gives the lease back now, so the next process need not wait for it to run out."""
        self.lease.close()

    def status(self) -> PipelineStatus:
        with self.db.session() as session:
            latest = queries.latest_job(session)
            return PipelineStatus(
                active=queries.active_model(session, self.config.base_model),
                counts=queries.example_counts(session, self.config.curation),
                min_examples=self.config.min_examples,
                last_job=JobView.of(latest) if latest else None,
                paused_reason=decision.paused_reason(_last_job(latest)),
                accepts_jobs_until=self.backend.capabilities.accepts_jobs_until,
                backend=self.backend.name,
                base_model=self.config.base_model,
                base_model_retires=self.backend.capabilities.retires(self.config.base_model),
            )

    def training_file(self) -> TrainingFile:
        """The file a job would upload now, in the configured backend's format, what was left out, and the
        validation report the upload step would act on. Read-only."""
        with self.db.session() as session:
            return training_file(session, self.config, self.backend)

    def build(self, session: Session, counter: TokenCounter | None = None) -> BuiltDataset:
        """The files a job would train on now, by the configured backend's rules."""
        return build_files(session, self.config, self.backend.capabilities, counter=counter)

    def validation_rules(self, backend: Backend, base_model: str) -> Rules:
        """What a training file for `backend` is checked against: its limits, the model's tokenizer and price."""
        return Rules.of(backend.capabilities, base_model, model_dir=self.config.model_dir, prices=self.config.prices)

    def restore(self, model: str) -> bool:
        """The serving end forgot `model` (vLLM restarted: adapters are gone): deploy it again. True once served."""
        with self.db.session() as session:
            job = queries.job_serving(session, model)
            if job is None or job.artifact is None:
                return False
            backend, artifact = self._backend_named(job.provider), job.artifact
        if backend is None or not backend.capabilities.serving_forgets:
            return False
        try:
            deployment = backend.deployer.deploy(artifact)
        except BackendError as exc:
            log.warning("could not serve %s again at the %s backend: %s", model, backend.name, exc.message)
            return False
        if deployment.ready and deployment.model == model:
            log.info("%s was not served any more; deployed it again at %s", model, deployment.where)
            return True
        return False

    # --- deciding -------------------------------------------------------------------------------

    def _prepare(self, session: Session, trigger: Trigger) -> TickResult | int:
        """Asks finetune.decision with the facts it needs; creates the job (state preparing) on a yes."""
        in_flight = queries.jobs_in_states(session, IN_FLIGHT)
        backlog = decision.Backlog(
            in_flight=decision.InFlight(in_flight[-1].id, JobView.of(in_flight[-1]).label) if in_flight else None,
            untrained=queries.example_counts(session, self.config.curation).untrained,
        )
        rules = self.rules
        if (no := decision.before_building(backlog, trigger, rules)) is not None:
            return no
        if self.config.method not in self.backend.capabilities.methods:
            return TickResult(Outcome.REFUSED, method_unsupported(self.backend.name, self.config.method))
        try:
            counter = self.validation_rules(self.backend, self.config.base_model).counter()
        except TokenizerUnavailable as exc:
            return TickResult(Outcome.FAILED, f"Cannot count the examples' tokens for {self.config.base_model}: {exc.message}")
        built = self.build(session, counter)
        candidate = decision.Candidate(
            valid=len(built),
            new=len(set(built.reply_ids) - queries.trained_reply_ids(session)),
            skipped=len(built.skipped),
            sha256=built.sha256,
        )
        latest = queries.latest_job(session)
        if (no := decision.verdict(candidate, _last_job(latest), trigger, rules)) is not None:
            return no
        now = self.clock.now()
        dataset = queries.create_dataset(
            session, reply_ids=built.covered_ids, jsonl=built.jsonl, sha256=built.sha256, skipped=built.skipped, now=now,
            validation_jsonl=built.validation_jsonl, example_count=len(built),
        )
        job_id = queries.create_job(
            session,
            FineTuneJob(
                dataset_id=dataset.id,
                state=JobState.PREPARING,
                trigger=trigger,
                provider=self.backend.name,
                base_model=self.config.base_model,
                suffix=self.config.suffix,
                method=self.config.method.value,
                hyperparameters=dict(self.config.hyperparameters) or None,
                attempts=0,
                created_at=now,
                updated_at=now,
            ),
        )
        log.info("job %s prepared (%s): %s examples, %s held out, %s skipped, %s merged; trigger=%s", job_id,
                 self.config.method, len(built), len(built.validation_lines), len(built.skipped), len(built.merged), trigger)
        return job_id

    # --- walking the state machine ----------------------------------------------------------------

    def _advance(self, job_id: int, *, refresh: bool = False) -> TickResult:
        """Takes a job as far as it can go now; `refresh` also asks the backend about a submitted one."""
        steps = {
            JobState.PREPARING: self._upload,
            JobState.UPLOADED: self._create,
            JobState.TRAINED: self._deploy,
            JobState.DEPLOYING: self._go_live,
        }
        if refresh:
            steps[JobState.SUBMITTED] = self._refresh
        asked: set[JobState] = set()
        while True:
            with self.db.session() as session:
                state = JobState(queries.require_job(session, job_id).state)
            step = steps.get(state)
            if step is None or state in asked:  # each step at most once per advance: no busy loop on "not yet"
                return self._result(job_id)
            if not self.lease.keep():  # the lease ran out under us and another process took it: leave the rest to it
                return self._result(job_id)
            asked.add(state)
            if not step(job_id):
                return self._result(job_id)

    def _result(self, job_id: int) -> TickResult:
        with self.db.session() as session:
            job = JobView.of(queries.require_job(session, job_id))
        if job.state in (JobState.SUBMITTED, JobState.TRAINED, JobState.DEPLOYING):
            if job.state != JobState.SUBMITTED and job.error_message:
                return TickResult(Outcome.RETRYING, f"Job {job.id}: the deploy will be retried: {job.error_message}", job.id)
            return TickResult(Outcome.SUBMITTED, f"Job {job.provider_job_id} submitted ({job.example_count} examples).", job.id)
        if job.state in (JobState.PREPARING, JobState.UPLOADED):
            return TickResult(Outcome.RETRYING, f"Job {job.id} will be retried: {job.error_message}", job.id)
        outcome = Outcome.SUBMITTED if job.state == JobState.SUCCEEDED else Outcome(job.state.value)
        return TickResult(outcome, job.error_message or f"Job {job.id} is {job.state}.", job.id)

    def _upload(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            backend = self._backend_of(job)
            filename = f"finetune-bot-dataset-{job.dataset_id}.jsonl"
            jsonl, validation, method = job.dataset.jsonl, job.dataset.validation_jsonl, Method(job.method)
            base_model = job.base_model
        rules = backend.capabilities
        if (refusal := self._check_file(jsonl, backend, base_model, filename)) is not None:
            with self.db.session() as session:
                self._transition(session, job_id, JobState.PREPARING, JobState.FAILED, finished_at=self.clock.now(),
                                 error_message=refusal, error_code=UPLOAD_REFUSED_CODE,
                                 announce=NotificationKind.UPLOAD_REFUSED)
            log.warning("job %s: not uploaded: %s", job_id, refusal)
            return False
        try:
            file_id = backend.trainer.stage(filename, backend.trainer.write_training_file(
                as_backend_reads(jsonl, rules, method), method))
            validation_id = None
            if validation:
                validation_id = backend.trainer.stage(
                    filename.replace("-dataset-", "-validation-"),
                    backend.trainer.write_training_file(as_backend_reads(validation, rules, method), method))
        except BackendError as exc:
            self._backend_failed(job_id, JobState.PREPARING, exc, "upload")
            return False
        with self.db.session() as session:
            moved = self._transition(
                session, job_id, JobState.PREPARING, JobState.UPLOADED,
                file_id=file_id, validation_file_id=validation_id, attempts=0, error_message=None, error_code=None,
            )
        if moved:
            log.info("job %s staged training file %s at the %s backend", job_id, file_id, backend.name)
        return moved

    def _check_file(self, jsonl: str, backend: Backend, base_model: str, filename: str) -> str | None:
        """The same validation `finetune-bot validate` runs; why the file must not be uploaded, or None."""
        try:
            report = validate_text(jsonl, self.validation_rules(backend, base_model), source=filename)
        except TokenizerUnavailable as exc:
            return f"its tokens could not be counted: {exc.message}"
        if report.usable:
            return None
        return f"the training file failed validation ({report.errors} error(s)): {report.summary()}"

    def _create(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            backend = self._backend_of(job)
            assert job.file_id is not None, "an uploaded job has its file"
            request = TrainingRequest(
                key=idempotency_key(job), base_model=job.base_model, training_file=job.file_id,
                method=Method(job.method), suffix=job.suffix, hyperparameters=dict(job.hyperparameters or {}),
                validation_file=job.validation_file_id,
            )
        try:
            # An earlier attempt may have created the run and then lost the answer, or lost our record of
            # it (a crash, a failed commit): always look before submitting.
            remote = backend.trainer.find(request.key)
            if remote is None:
                remote = backend.trainer.submit(request)
        except BackendError as exc:
            self._backend_failed(job_id, JobState.UPLOADED, exc, "job creation")
            return False
        return self._adopt(job_id, remote)

    def _adopt(self, job_id: int, remote: TrainingRun) -> bool:
        with self.db.session() as session:
            moved = self._transition(
                session, job_id, JobState.UPLOADED, JobState.SUBMITTED,
                provider_job_id=remote.id, provider_status=remote.raw_status, submitted_at=self.clock.now(),
                attempts=0, error_message=None, error_code=None,
            )
        if moved:
            log.info("job %s submitted as %s", job_id, remote.id)
        return moved

    def _remote_twin(self, job_id: int) -> TrainingRun | None:
        """The backend's run for this job, if a submission went through unseen; None when unknown or unreachable."""
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            if job.state != JobState.UPLOADED:
                return None
            backend, key = self._backend_of(job), idempotency_key(job)
        try:
            return backend.trainer.find(key)
        except BackendError:
            return None

    def _refresh(self, job_id: int) -> bool:
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            backend, run_id = self._backend_of(job), job.provider_job_id
        assert run_id is not None, "a submitted job has the backend's run id"
        try:
            remote = backend.trainer.get(run_id)
        except NoSuchRun as exc:
            with self.db.session() as session:
                self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.FAILED,
                    error_message=f"the {backend.name} backend no longer knows job {run_id}: {exc.message}",
                    error_code=exc.code, finished_at=self.clock.now(),
                )
            return False
        except BackendRefused as exc:  # a rotated key or a permission change: the run itself may be fine
            log.warning("job %s: reading %s was refused (%s): %s", job_id, run_id, exc.status, exc.message)
            return False
        except BackendError as exc:
            log.warning("job %s: could not read %s from the %s backend: %s", job_id, run_id, backend.name, exc.message)
            return False
        return self._apply_remote(job_id, remote)

    def _apply_remote(self, job_id: int, remote: TrainingRun) -> bool:
        """Records what the backend said; True when the job moved on (trained, failed or cancelled)."""
        now = self.clock.now()
        finished = remote.finished_at or now
        progress = remote.progress
        with self.db.session() as session:
            if not queries.update_job(
                session, job_id, JobState.SUBMITTED, now, provider_status=remote.raw_status,
                progress_step=progress.step, progress_total_steps=progress.total_steps, progress_epoch=progress.epoch,
                progress_total_epochs=progress.total_epochs, progress_loss=progress.loss,
            ):
                return False  # no longer submitted: another step already recorded its end
            if remote.status is RunStatus.SUCCEEDED and remote.artifact:
                moved = self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.TRAINED,
                    artifact=remote.artifact, trained_tokens=remote.trained_tokens, finished_at=finished,
                )
                if moved:
                    log.info("job %s trained: %s", job_id, remote.artifact)
                return moved
            if remote.status in (RunStatus.FAILED, RunStatus.SUCCEEDED):
                message = remote.error_message or "the backend reported the job failed without a reason"
                moved = self._transition(
                    session, job_id, JobState.SUBMITTED, JobState.FAILED,
                    error_message=message, error_code=remote.error_code, finished_at=finished,
                )
                log.info("job %s failed: %s", job_id, message)
                return moved
            if remote.status is RunStatus.CANCELLED:
                moved = self._transition(session, job_id, JobState.SUBMITTED, JobState.CANCELLED, finished_at=finished)
                log.info("job %s was cancelled", job_id)
                return moved
        return False

    def _deploy(self, job_id: int) -> bool:
        """trained -> deploying: asks the backend to serve the artifact, and records the name it will answer to."""
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            backend, artifact = self._backend_of(job), job.artifact
        assert artifact is not None, "a trained job has its artifact"
        try:
            deployment = backend.deployer.deploy(artifact)
        except BackendError as exc:
            self._deploy_failed(job_id, JobState.TRAINED, exc.message, permanent=isinstance(exc, BackendRefused))
            return False
        with self.db.session() as session:
            return self._transition(
                session, job_id, JobState.TRAINED, JobState.DEPLOYING,
                fine_tuned_model=deployment.model, served_where=deployment.where, attempts=0,
                error_message=None, error_code=None,
            )

    def _go_live(self, job_id: int) -> bool:
        """deploying -> succeeded once the deploy is ready and the new model answered one smoke test."""
        with self.db.session() as session:
            job = queries.require_job(session, job_id)
            backend, artifact = self._backend_of(job), job.artifact
        assert artifact is not None, "a deploying job has its artifact"
        try:
            deployment = backend.deployer.deploy(artifact)  # idempotent: "are you ready yet?"
        except BackendError as exc:
            self._deploy_failed(job_id, JobState.DEPLOYING, exc.message, permanent=isinstance(exc, BackendRefused))
            return False
        if not deployment.ready:
            log.info("job %s: %s is not served yet: %s", job_id, deployment.model, deployment.detail or "loading")
            return False
        try:
            self.smoke.check(deployment.model)
        except ChatError as exc:
            self._deploy_failed(job_id, JobState.DEPLOYING, f"the smoke test of {deployment.model} failed: {exc.reason}")
            return False
        now = self.clock.now()
        with self.db.session() as session:
            previous = queries.active_model(session, self.config.base_model)
            older = queries.models_before_latest(session)
            moved = self._transition(
                session, job_id, JobState.DEPLOYING, JobState.SUCCEEDED,
                fine_tuned_model=deployment.model, served_where=deployment.where, error_message=None, error_code=None,
            )
            if moved:
                queries.activate_model(session, deployment.model, job_id, now)
                log.info("job %s succeeded: %s (%s) is now the reply model", job_id, deployment.model, deployment.where)
        if moved:
            for model, backend_name in older:  # keep the previous one for rollback; unload the rest
                if model not in (deployment.model, previous.model):
                    self._undeploy(self._backend_named(backend_name), model)
        return moved

    def _deploy_failed(self, job_id: int, state: JobState, reason: str, *, permanent: bool = False) -> None:
        """The current model keeps answering; a passing failure is retried on the next poll and the team told
        once; a refusal (an adapter the server will not load) ends the job with its reason."""
        now = self.clock.now()
        with self.db.session() as session:
            attempts = queries.require_job(session, job_id).attempts + 1
            if permanent or attempts >= self.config.max_deploy_attempts:
                message = (f"the deploy was refused: {reason}" if permanent
                           else f"the deploy failed {attempts} times; last error: {reason}")
                self._transition(session, job_id, state, JobState.FAILED, finished_at=now, error_message=message,
                                 attempts=attempts)
                log.warning("job %s: giving up the deploy: %s", job_id, reason)
                return
            if not queries.update_job(session, job_id, state, now, attempts=attempts, error_message=reason):
                return
            if attempts == 1:
                job = JobView.of(queries.require_job(session, job_id))
                queries.enqueue_notification(
                    session, NotificationKind.DEPLOY_FAILED, JobNotice(NotificationKind.DEPLOY_FAILED, job).payload(), now
                )
        log.warning("job %s: deploy failed (attempt %s), will retry: %s", job_id, attempts, reason)

    def _undeploy(self, backend: Backend | None, model: str) -> None:
        if backend is None:
            return
        try:
            backend.deployer.undeploy(model)
        except BackendError as exc:  # a leftover adapter costs memory, not correctness
            log.warning("could not unload %s from the %s backend: %s", model, backend.name, exc.message)

    def _backend_failed(self, job_id: int, state: JobState, exc: BackendError, doing: str) -> None:
        """A refusal ends the job at once; a passing error is retried by the poller, a few times at most."""
        with self.db.session() as session:
            attempts = queries.require_job(session, job_id).attempts + 1
        if attempts >= self.config.max_attempts and (twin := self._remote_twin(job_id)) is not None:
            self._adopt(job_id, twin)
            return
        fields: dict[str, Any] = {"error_message": exc.message, "error_code": exc.code, "attempts": attempts}
        now = self.clock.now()
        with self.db.session() as session:
            if isinstance(exc, BackendRefused):
                self._transition(session, job_id, state, JobState.REFUSED, finished_at=now, **fields)
                log.warning("job %s: %s refused (%s): %s", job_id, doing, exc.status, exc.message)
            elif attempts >= self.config.max_attempts:
                fields["error_message"] = f"{doing} failed {attempts} times; last error: {exc.message}"
                self._transition(session, job_id, state, JobState.FAILED, finished_at=now, **fields)
                log.warning("job %s: giving up after %s attempts: %s", job_id, attempts, exc.message)
            elif queries.update_job(session, job_id, state, now, **fields):
                log.warning("job %s: %s failed (attempt %s), will retry: %s", job_id, doing, attempts, exc.message)

    def _delete_spent_files(self) -> None:
        """Deletes at their backend the training files of jobs that ended (succeeded, failed, cancelled,
        refused, or given up before the run was created): the team's data does not stay there for nothing."""
        with self.db.session() as session:
            spent = queries.spent_training_files(session, TERMINAL)
        for job_id, name, file_id in spent:
            backend = self._backend_named(name)
            if backend is None or file_id in self._undeletable:
                continue
            try:
                backend.trainer.delete_file(file_id)
            except BackendRefused as exc:
                self._undeletable.add(file_id)
                log.warning("job %s: the %s backend refused to delete training file %s: %s", job_id, backend.name,
                            file_id, exc.message)
                continue
            except BackendError as exc:  # passing: the next poll tries again
                log.warning("job %s: could not delete training file %s at the %s backend yet: %s", job_id, file_id,
                            backend.name, exc.message)
                continue
            with self.db.session() as session:
                if queries.mark_file_deleted(session, job_id, self.clock.now()):
                    log.info("job %s: deleted its training file %s at the %s backend", job_id, file_id, backend.name)

    def _backend_of(self, job: FineTuneJob) -> Backend:
        """The backend the job started on: a job resumes there whatever FINETUNE_BACKEND says now."""
        return self.backends.get(job.provider)

    def _backend_named(self, name: str | None) -> Backend | None:
        if not name:
            return None
        try:
            return self.backends.get(name)
        except BackendError:
            return None

    # --- one move ---------------------------------------------------------------------------------

    def _transition(self, session: Session, job_id: int, expected: JobState, target: JobState, *,
                    announce: NotificationKind | None = None, **fields: Any) -> bool:
        """Moves the job if it is still in `expected`, and queues the announcement finetune.states declares
        (or `announce`, where the move means something more particular)."""
        check_transition(expected, target)
        now = self.clock.now()
        if not queries.transition_job(session, job_id, expected, target, now, **fields):
            log.info("job %s was no longer %s; leaving it as the other step left it", job_id, expected)
            return False
        if (kind := announce or ANNOUNCEMENTS.get(target)) is not None:
            job = queries.require_job(session, job_id)
            view = JobView.of(job)
            if target == JobState.REFUSED:
                view = replace(view, advice=self._backend_of(job).how_to_switch or None)
            queries.enqueue_notification(session, kind, JobNotice(kind, view).payload(), now)
        return True


def training_file(session: Session, config: PipelineConfig, backend: Backend, *, source: str | None = None) -> TrainingFile:
    """The file a job on `backend` would upload now (its own format), what was left out, and the validation report
    the upload step would act on; `source` names the file in the report. Read-only: the pipeline and the CLI's export."""
    rules = Rules.of(backend.capabilities, config.base_model, model_dir=config.model_dir, prices=config.prices)
    built = build_files(session, config, backend.capabilities, counter=rules.counter())
    method = config.method
    content = backend.trainer.write_training_file(as_backend_reads(built.jsonl, backend.capabilities, method), method)
    filename = f"finetune-bot-{backend.name}-training.jsonl"
    report = validate_text(built.jsonl, rules, source=source or filename)
    return TrainingFile(filename, content, len(built), built.skipped, backend.name, report,
                        held_out=len(built.validation_lines), method=method)


def build_files(session: Session, config: PipelineConfig, capabilities: Capabilities, *,
                counter: TokenCounter | None = None) -> BuiltDataset:
    """The training and validation files from the curated replies now (FINETUNE_METHOD: approved examples, or
    preference pairs), redacted, each conversation once, with the stable holdout. Read-only."""
    limits: dict[str, Any] = {"max_example_tokens": capabilities.max_example_tokens, "redact": config.redactor,
                              "holdout_min": config.holdout_min, "counter": counter}
    if config.method is Method.DPO:
        return build_preferences(queries.curated_replies(session, config.curation), **limits)
    return build_dataset(queries.curated_replies(session, config.curation, approved_only=True), **limits)


# how long a person's /finetune run or cancel waits for a lease another holder may have left by dying
_PERSON_WAITS = LEASE_TTL + LEASE_TTL / 5


def _last_job(job: FineTuneJob | None) -> decision.LastJob | None:
    if job is None:
        return None
    return decision.LastJob(job.id, JobState(job.state), job.dataset.sha256, job.error_message)


def idempotency_key(job: FineTuneJob) -> str:
    """Ours, unique per job: what makes a run findable at the backend when the answer to its creation was lost."""
    return f"finetune-bot-job-{job.id}-{job.dataset.sha256[:12]}"
