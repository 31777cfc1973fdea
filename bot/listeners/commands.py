"""/finetune: status, run, cancel, export, help. Run, cancel and export are for the stewards only (finetune.stewards).

The subcommands that act (run, cancel, export) act once per request: Slack sends each invocation with
its own trigger_id, kept like an event id, so the same signed request replayed within Slack's 5-minute
window is answered "already done" and changes nothing.
"""
from __future__ import annotations

import hashlib
import logging

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.config import Settings
from bot.notifier import Notifier
from bot.views import export as export_view
from bot.views import status as view
from bot.views import steering as steering_view
from finetune.clock import Clock
from finetune.pipeline import Pipeline
from finetune.scheduler import FinetuneScheduler
from finetune.stewards import Control, LookupFailed, Stewards
from finetune.tokens import TokenizerUnavailable
from storage import queries
from storage.db import Database
from storage.enums import Trigger

log = logging.getLogger("bot.commands")

ACTING = ("run", "cancel", "export")
REPLAYED = "That /finetune request was already handled; nothing was done again."


def on_finetune(
    ack: Ack, respond: Respond, command: dict, client: WebClient,
    pipeline: Pipeline, notifier: Notifier, scheduler: FinetuneScheduler, settings: Settings, clock: Clock,
    stewards: Stewards, db: Database,
) -> None:
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else "help"
    log.info("/finetune %s from %s", sub if sub in view.SUBCOMMANDS else "(unknown subcommand)", command.get("user_id"))
    if sub in ACTING and not first_request(db, clock, command.get("trigger_id")):
        log.warning("refused a replayed /finetune %s from %s: its trigger_id was already handled", sub,
                    command.get("user_id"))
        ack(text=REPLAYED)
        return
    if sub in set(Control) and (refused := refusal(stewards, command.get("user_id") or "", sub)):
        ack(text=refused)
    elif sub == "status":
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


def refusal(stewards: Stewards, user: str, sub: str) -> str | None:
    """None when `user` may use the control; else the one line they are shown instead."""
    try:
        if stewards.may_steer(user):
            return None
    except LookupFailed as exc:
        log.warning("could not look up whether %s may use /finetune %s: %s", user, sub, exc)
        return steering_view.lookup_failed(sub)
    log.info("/finetune %s refused for %s: not a fine-tuning admin", sub, user)
    return steering_view.refusal(sub, stewards.admins)


def first_request(db: Database, clock: Clock, trigger_id: object) -> bool:
    """True the first time this trigger_id is seen (a request without one cannot be told apart: it acts)."""
    if not isinstance(trigger_id, str) or not trigger_id:
        return True
    key = "trigger:" + hashlib.sha256(trigger_id.encode()).hexdigest()[:48]  # fits the event id column
    with db.session() as session:
        return queries.claim_event(session, key, clock.now())


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
