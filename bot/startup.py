"""What `finetune-bot run` does once before it serves Slack: bring the database up to date and tidy after a crash.

Replies a dead process left pending are taken over here (those whose lease already ran out) and by the
scheduler's sweep after every poll (those whose lease runs out later): each is answered again, in place of
its "Thinking…" placeholder, on the event-work pool.
"""
from __future__ import annotations

import logging

from bot.answering import resume_replies
from bot.services import Services

log = logging.getLogger("bot.startup")


def prepare(services: Services) -> None:
    services.db.migrate()
    resume_replies(services.answering, services.slack, services.event_work)


def check_slack(services: Services) -> None:
    """Asks Slack who the token belongs to before serving: a rejected token fails the start in one line.

    The answer's team_id is the one workspace served from then on (bot.listeners.workspace).
    """
    assert services.installed_team is not None, "build_services sets it"
    identity = services.installed_team.learn()
    log.info("connected to Slack workspace %s (%s) as %s", identity.get("team"), identity.get("team_id"),
             identity.get("user"))

