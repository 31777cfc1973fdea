"""Slack listeners grouped by surface; each module registers its own module-level functions.

Listeners take what they need by argument name: Bolt injects its own arguments (event, body, ack,
client, context…) and every context key, and `provide` puts the services' collaborators there.
Before any listener runs, `clean` cleans the payload (bot.inbound) and `provide` swaps the request's
client, ack and respond for the ones that make everything sent safe (bot.outbound).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.inbound import TooDeep, clean_payload
from bot.listeners import commands, feedback, improve, messages, reactions, workspace
from bot.outbound import guard_outbound

log = logging.getLogger("bot.listeners")


def register(app: App, collaborators: dict[str, Any]) -> None:
    @app.middleware
    def clean(body: dict, next: Callable[[], None]) -> BoltResponse | None:
        """Over HTTP the gate has refused what is too deep already; over Socket Mode this is the check."""
        try:
            clean_payload(body)
        except TooDeep as exc:
            log.warning("refused a %s payload: %s", body.get("type") or "command", exc)
            return BoltResponse(status=400, body={"error": "invalid request"})
        next()
        return None

    @app.middleware
    def provide(context: BoltContext, next: Callable[[], None]) -> None:
        context.update(collaborators)
        guard_outbound(context, collaborators["slack"])
        next()

    workspace.register(app)  # after `provide`: it reads the installed team from the context
    messages.register(app)
    reactions.register(app)
    commands.register(app)
    feedback.register(app)
    improve.register(app)
