"""Slack listeners grouped by surface; each module registers its own."""
from __future__ import annotations

from slack_bolt import App

from bot.listeners import commands, events, messages, reactions
from bot.services import Services


def register(app: App, services: Services) -> None:
    events.register(app, services)
    messages.register(app, services)
    reactions.register(app, services)
    commands.register(app, services)
