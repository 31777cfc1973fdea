"""What someone who may not steer fine-tuning is told: one line, saying who can."""
from __future__ import annotations

MAX_NAMED = 5


def refusal(sub: str, admins: frozenset[str]) -> str:
    if admins:
        names = ", ".join(f"<@{user}>" for user in sorted(admins)[:MAX_NAMED])
        more = " and others" if len(admins) > MAX_NAMED else ""
        return f":lock: Only the fine-tuning admins can use `/finetune {sub}`: {names}{more} (FINETUNE_ADMINS)."
    return (f":lock: Only the workspace's admins and owners can use `/finetune {sub}` "
            "(or the people FINETUNE_ADMINS names, when it is set).")


def lookup_failed(sub: str) -> str:
    return (f":warning: I couldn't check with Slack whether you may use `/finetune {sub}` "
            "(only the workspace's admins and owners may). Please try again in a moment.")
