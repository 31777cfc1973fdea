"""Who may steer fine-tuning: the people FINETUNE_ADMINS names, else whoever the workspace says is an admin or owner."""
from __future__ import annotations

import pytest

from finetune.stewards import LookupFailed, Stewards


class Directory:
    """The workspace's answer to "is this person an admin or owner?", counting how often it was asked."""

    def __init__(self, admins: set[str]) -> None:
        self.admins = admins
        self.asked: list[str] = []
        self.down = False

    def __call__(self, user: str) -> bool:
        self.asked.append(user)
        if self.down:
            raise ConnectionError("Slack did not answer")
        return user in self.admins


def test_named_admins_decide_and_the_workspace_is_never_asked(clock):
    directory = Directory({"UOWNER"})
    stewards = Stewards(frozenset({"UBOB"}), clock, directory)
    assert stewards.named and stewards.may_steer("UBOB") and not stewards.may_steer("UOWNER")
    assert directory.asked == []


def test_without_names_the_workspace_is_asked_once_per_person_for_ten_minutes(clock):
    directory = Directory({"UOWNER"})
    stewards = Stewards(frozenset(), clock, directory)
    assert stewards.may_steer("UOWNER") and not stewards.may_steer("UBOB")
    assert stewards.may_steer("UOWNER") and not stewards.may_steer("UBOB")
    assert directory.asked == ["UOWNER", "UBOB"]
    directory.admins.clear()  # the owner steps down
    clock.advance(10 * 60 + 1)
    assert not stewards.may_steer("UOWNER") and directory.asked[-1] == "UOWNER"


def test_a_failed_lookup_refuses_and_is_not_remembered(clock):
    directory = Directory({"UOWNER"})
    stewards = Stewards(frozenset(), clock, directory)
    directory.down = True
    with pytest.raises(LookupFailed, match="did not answer"):
        stewards.may_steer("UOWNER")
    directory.down = False
    assert stewards.may_steer("UOWNER")
