"""Slack listeners grouped by surface; each module registers its own module-level functions.

Listeners take what they need by argument name: Bolt injects its own arguments (event, body, ack,
client, context…) and every context key, and `provide` puts the services' collaborators there.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext

from bot.listeners import commands, feedback, improve, messages, reactions, workspace


def register(app: App, collaborators: dict[str, Any]) -> None:
    @app.middleware
    def provide(context: BoltContext, next: Callable[[], None]) -> None:
        context.update(collaborators)
        next()

    workspace.register(app)  # after `provide`: it reads the installed team from the context
    messages.register(app)
    reactions.register(app)
    commands.register(app)
    feedback.register(app)
    improve.register(app)
