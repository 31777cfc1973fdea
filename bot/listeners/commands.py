"""/finetune: status, run, cancel, help."""
from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond

from bot import formatting
from bot.services import Services

log = logging.getLogger("bot.commands")


def register(app: App, services: Services) -> None:
    @app.command("/finetune")
    def on_finetune(ack: Ack, respond: Respond, command: dict) -> None:
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        log.info("/finetune %s from %s", sub, command.get("user_id"))
        if sub == "status":
            ack(text=status_text(services))
        elif sub == "run":
            ack(text="Checking for new approved examples…")
            result = services.pipeline.tick(trigger="manual")
            respond(text=result.message, response_type="ephemeral", replace_original=False)
            services.notifier.flush()
        elif sub == "cancel":
            ack(text="Cancelling…")
            result = services.pipeline.cancel()
            respond(text=result.message, response_type="ephemeral", replace_original=False)
            services.notifier.flush()
        elif sub == "help":
            ack(text=formatting.help_text())
        else:
            ack(text=formatting.help_text(unknown=sub))


def status_text(services: Services) -> str:
    return formatting.status_text(
        services.pipeline.status(),
        services.scheduler.next_tick_at(),
        services.settings.schedule,
        today=services.clock.now().date(),
    )
