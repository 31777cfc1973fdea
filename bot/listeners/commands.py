"""/finetune: status, run, cancel, help."""
from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond

from bot.config import Settings
from bot.notifier import Notifier
from bot.views import status as view
from finetune.clock import Clock
from finetune.pipeline import Pipeline
from finetune.scheduler import FinetuneScheduler
from storage.enums import Trigger

log = logging.getLogger("bot.commands")


def on_finetune(
    ack: Ack, respond: Respond, command: dict,
    pipeline: Pipeline, notifier: Notifier, scheduler: FinetuneScheduler, settings: Settings, clock: Clock,
) -> None:
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else "help"
    log.info("/finetune %s from %s", sub, command.get("user_id"))
    if sub == "status":
        ack(text=status_text(pipeline, scheduler, settings, clock))
    elif sub == "run":
        ack(text="Checking for new approved examples…")
        result = pipeline.tick(trigger=Trigger.MANUAL)
        respond(text=result.message, response_type="ephemeral", replace_original=False)
        notifier.flush()
    elif sub == "cancel":
        ack(text="Cancelling…")
        result = pipeline.cancel()
        respond(text=result.message, response_type="ephemeral", replace_original=False)
        notifier.flush()
    elif sub == "help":
        ack(text=view.help_text())
    else:
        ack(text=view.help_text(unknown=sub))


def status_text(pipeline: Pipeline, scheduler: FinetuneScheduler, settings: Settings, clock: Clock) -> str:
    return view.status_text(pipeline.status(), scheduler.next_tick_at(), settings.schedule, today=clock.now().date())


def register(app: App) -> None:
    app.command("/finetune")(on_finetune)
