"""/finetune: status, run, cancel, help."""
from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.config import Settings
from bot.notifier import Notifier
from bot.views import export as export_view
from bot.views import status as view
from finetune.clock import Clock
from finetune.pipeline import Pipeline
from finetune.scheduler import FinetuneScheduler
from finetune.tokens import TokenizerUnavailable
from storage.enums import Trigger

log = logging.getLogger("bot.commands")


def on_finetune(
    ack: Ack, respond: Respond, command: dict, client: WebClient,
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
    elif sub == "export":
        ack(text="Preparing your training file…")
        send_export(client, respond, command["user_id"], pipeline)
    elif sub == "help":
        ack(text=view.help_text())
    else:
        ack(text=view.help_text(unknown=sub))


def send_export(client: WebClient, respond: Respond, user: str, pipeline: Pipeline) -> None:
    """The training file and its report, as a file in the person's DMs (files_upload_v2)."""
    try:
        training = pipeline.training_file()
    except TokenizerUnavailable as exc:  # the local model's tokenizer is missing: say what to fix
        respond(text=f"I can't count the examples' tokens: {exc.message}", response_type="ephemeral", replace_original=False)
        return
    if training.examples == 0 and not training.skipped:
        respond(text=export_view.EMPTY, response_type="ephemeral", replace_original=False)
        return
    dm = client.conversations_open(users=user)["channel"]["id"]
    client.files_upload_v2(channel=dm, content=training.content, filename=training.filename,
                           title=training.filename,
                           initial_comment=export_view.export_comment(training, training.report.text() if training.report else None))
    respond(text=export_view.SENT, response_type="ephemeral", replace_original=False)


def status_text(pipeline: Pipeline, scheduler: FinetuneScheduler, settings: Settings, clock: Clock) -> str:
    return view.status_text(pipeline.status(), scheduler.next_tick_at(), settings.schedule, today=clock.now().date())


def register(app: App) -> None:
    app.command("/finetune")(on_finetune)
