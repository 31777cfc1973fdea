"""The fine-tuning job's state machine, stored in fine_tune_jobs.state.

    preparing --upload--> uploaded --create--> submitted --provider--> succeeded | failed | cancelled
        |                     |
        +-------refused-------+--> refused   (the provider said no: permanent, never retried on its own)
        +----too many transient errors----> failed
    preparing | uploaded | submitted --cancel--> cancelled
"""
from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PREPARING = "preparing"
    UPLOADED = "uploaded"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUSED = "refused"


IN_FLIGHT = frozenset({JobState.PREPARING, JobState.UPLOADED, JobState.SUBMITTED})
TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REFUSED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PREPARING: frozenset({JobState.UPLOADED, JobState.REFUSED, JobState.FAILED, JobState.CANCELLED}),
    JobState.UPLOADED: frozenset({JobState.SUBMITTED, JobState.REFUSED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUBMITTED: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.REFUSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(current: str, target: JobState) -> JobState:
    state = JobState(current)
    if target not in TRANSITIONS[state]:
        raise IllegalTransition(f"job cannot go from {state} to {target}")
    return target
