"""The fine-tuning job's state machine, stored in fine_tune_jobs.state, and what each state announces.

    preparing --stage--> uploaded --submit--> submitted --backend trained--> trained
        |                    |                    |                              |
        +-------refused------+--> refused         +--> failed | cancelled         deploy
        +---too many passing errors---> failed                                   v
                                                        succeeded <--ready + smoke test-- deploying
    any state in flight --cancel--> cancelled; trained | deploying --deploy kept failing--> failed

`refused`: the backend said no, permanently; never retried on its own. The reply model swaps only on
the move to `succeeded`, after the deploy is ready and one chat completion with the new model answered.

Every move is a compare-and-set in the database (storage.queries.transition_job): it happens only from
the state the caller read, so two processes can never both move one job.
"""
from __future__ import annotations

from storage.enums import JobState, NotificationKind

__all__ = ["ANNOUNCEMENTS", "IN_FLIGHT", "TERMINAL", "TRANSITIONS", "IllegalTransition", "JobState", "check_transition"]

IN_FLIGHT = frozenset({JobState.PREPARING, JobState.UPLOADED, JobState.SUBMITTED, JobState.TRAINED, JobState.DEPLOYING})
TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.REFUSED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PREPARING: frozenset({JobState.UPLOADED, JobState.REFUSED, JobState.FAILED, JobState.CANCELLED}),
    JobState.UPLOADED: frozenset({JobState.SUBMITTED, JobState.REFUSED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUBMITTED: frozenset({JobState.TRAINED, JobState.FAILED, JobState.CANCELLED}),
    JobState.TRAINED: frozenset({JobState.DEPLOYING, JobState.FAILED, JobState.CANCELLED}),
    JobState.DEPLOYING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.REFUSED: frozenset(),
}

# What the team is told when a job enters a state; states missing here pass quietly.
ANNOUNCEMENTS: dict[JobState, NotificationKind] = {
    JobState.SUBMITTED: NotificationKind.JOB_SUBMITTED,
    JobState.SUCCEEDED: NotificationKind.JOB_SUCCEEDED,
    JobState.FAILED: NotificationKind.JOB_FAILED,
    JobState.CANCELLED: NotificationKind.JOB_CANCELLED,
    JobState.REFUSED: NotificationKind.JOB_REFUSED,
}


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the caller, never a race (races fail the compare-and-set)."""


def check_transition(current: JobState | str, target: JobState) -> JobState:
    state = JobState(current)
    if target not in TRANSITIONS[state]:
        raise IllegalTransition(f"job cannot go from {state} to {target}")
    return target
