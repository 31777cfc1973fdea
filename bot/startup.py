"""What `finetune-bot run` does once before it serves Slack: bring the database up to date and tidy after a crash."""
from __future__ import annotations

import logging
from datetime import timedelta

from bot.services import Services
from storage import queries

log = logging.getLogger("bot.startup")

ABANDONED_AFTER = timedelta(minutes=5)  # longer than any reply takes; younger ones may belong to a running twin


def prepare(services: Services) -> None:
    services.db.migrate()
    with services.db.session() as session:
        abandoned = queries.fail_abandoned_replies(session, services.clock.now() - ABANDONED_AFTER)
    if abandoned:
        log.info("marked %s reply(s) left unfinished by an earlier run as failed", abandoned)


def check_slack(services: Services) -> None:
    """Asks Slack who the token belongs to before serving: a rejected token fails the start in one line.

    The answer's team_id is the one workspace served from then on (bot.listeners.workspace).
    """
    assert services.installed_team is not None, "build_services sets it"
    identity = services.installed_team.learn()
    log.info("connected to Slack workspace %s (%s) as %s", identity.get("team"), identity.get("team_id"),
             identity.get("user"))

