"""Should a fine-tuning job start now, and if not, why not: pure functions over plain facts.

The pipeline gathers the facts from the database in two steps (a cheap count first, then the built
dataset), asks these functions, and acts on the answer. Nothing here reads a table or a clock.
"""
from __future__ import annotations

from dataclasses import dataclass

from finetune.views import Outcome, TickResult
from storage.enums import JobState, Trigger


@dataclass(frozen=True)
class InFlight:
    job_id: int
    label: str  # the provider's status, or our state


@dataclass(frozen=True)
class LastJob:
    id: int
    state: JobState
    dataset_sha256: str
    error_message: str | None


@dataclass(frozen=True)
class Backlog:
    """What is known before the dataset is built."""

    in_flight: InFlight | None
    untrained: int  # approved and not yet trained on, valid or not: an upper bound, and cheap to count


@dataclass(frozen=True)
class Candidate:
    """The dataset a job would train on, as built from the approved replies now."""

    valid: int  # examples that pass validation
    new: int  # valid examples no successful job has trained on
    skipped: int  # approved examples left out as invalid
    sha256: str


@dataclass(frozen=True)
class Rules:
    min_new: int  # FINETUNE_MIN_EXAMPLES: new examples a scheduled run waits for
    provider_minimum: int  # the fewest examples the provider accepts in a training file


def paused_reason(last: LastJob | None) -> str | None:
    """Scheduled runs stop after a refusal until a person tries again: retrying a 'no' helps nobody."""
    if last is not None and last.state == JobState.REFUSED:
        return (
            f"The provider refused the last job: {last.error_message}. "
            "Scheduled runs are paused; `/finetune run` tries again."
        )
    return None


def before_building(backlog: Backlog, trigger: Trigger, rules: Rules) -> TickResult | None:
    """A reason not to start that needs no dataset; None means build the dataset and ask `verdict`."""
    if backlog.in_flight is not None:
        job = backlog.in_flight
        return TickResult(Outcome.IN_FLIGHT, f"Job {job.job_id} is still {job.label}.", job.job_id)
    if trigger == Trigger.SCHEDULE and backlog.untrained < rules.min_new:
        return TickResult(
            Outcome.NOT_ENOUGH, f"{backlog.untrained} new approved example(s); {rules.min_new} needed to train."
        )
    return None


def verdict(candidate: Candidate, last: LastJob | None, trigger: Trigger, rules: Rules) -> TickResult | None:
    """A reason not to start this dataset now; None means start a job on it."""
    skipped = f" ({candidate.skipped} approved example(s) skipped as invalid)" if candidate.skipped else ""
    scheduled = trigger == Trigger.SCHEDULE
    if scheduled and candidate.new < rules.min_new:
        return TickResult(
            Outcome.NOT_ENOUGH, f"{candidate.new} new approved example(s); {rules.min_new} needed to train.{skipped}"
        )
    if candidate.new == 0:  # a manual run needs only something new
        return TickResult(
            Outcome.NOT_ENOUGH, f"No new approved examples since the last successful job: nothing to train on.{skipped}"
        )
    if scheduled and (reason := paused_reason(last)):
        return TickResult(Outcome.PAUSED, reason, last.id if last else None)
    if candidate.valid < rules.provider_minimum:
        return TickResult(
            Outcome.NOT_ENOUGH,
            f"Only {candidate.valid} approved example(s) are valid ({candidate.skipped} skipped); "
            f"fine-tuning needs at least {rules.provider_minimum}.",
        )
    if scheduled and last is not None and last.state == JobState.FAILED and last.dataset_sha256 == candidate.sha256:
        return TickResult(Outcome.UNCHANGED, "The last job failed on exactly these examples; waiting for new ones.")
    return None
