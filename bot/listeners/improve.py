"""Improve a reply: the button under it, or the message shortcut, opens a modal with its text; saving
stores the corrected answer beside the original and says so in the thread.

The modal must open within 3 seconds of the click (the trigger_id expires), so the lookup happens on
the listener thread right after the ack; saving is acknowledged first and written after.
"""
from __future__ import annotations

import logging

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.curation_notes import not_a_curator
from bot.views import improve as view
from bot.views import reply as reply_view
from finetune.clock import Clock
from finetune.corrections import CorrectionResult, save_correction, text_to_improve
from storage.db import Database
from storage.queries import Curation

log = logging.getLogger("bot.improve")


def _open(client: WebClient, respond: Respond, trigger_id: str | None, user: str, channel: str, ts: str,
          db: Database, curation: Curation) -> None:
    if not curation.counts(user):
        respond(text=f":lock: {not_a_curator(curation)}", response_type="ephemeral", replace_original=False)
        return
    text = text_to_improve(db, channel, ts)
    if text is None:
        respond(text=view.NOT_A_REPLY, response_type="ephemeral", replace_original=False)
        return
    if view.too_long(text):
        respond(text=view.TOO_LONG.format(length=len(text)), response_type="ephemeral", replace_original=False)
        return
    client.views_open(trigger_id=trigger_id, view=view.modal(text, view.Target(channel, ts)))


def on_improve_button(ack: Ack, body: dict, client: WebClient, respond: Respond, db: Database, curation: Curation) -> None:
    ack()
    container = body.get("container") or {}
    _open(client, respond, body.get("trigger_id"), body["user"]["id"],
          (body.get("channel") or {}).get("id") or container.get("channel_id", ""),
          container.get("message_ts") or (body.get("message") or {}).get("ts", ""), db, curation)


def on_improve_shortcut(ack: Ack, shortcut: dict, client: WebClient, respond: Respond, db: Database,
                        curation: Curation) -> None:
    ack()
    message = shortcut.get("message") or {}
    _open(client, respond, shortcut.get("trigger_id"), shortcut["user"]["id"], shortcut["channel"]["id"],
          message.get("ts", ""), db, curation)


def on_improve_saved(ack: Ack, body: dict, client: WebClient,
                     db: Database, clock: Clock, curation: Curation) -> None:
    view_body = body["view"]
    text = view.submitted_text(view_body.get("state", {}).get("values", {})).strip()
    if not text:
        ack(response_action="errors", errors={view.PART_BLOCK.format(0): view.EMPTY})
        return
    ack()
    target = view.Target.load(view_body.get("private_metadata", ""))
    user = body["user"]["id"]
    saved = save_correction(db, clock, curation, channel=target.channel, ts=target.ts, user=user, text=text)
    if saved.result is CorrectionResult.SAVED and saved.thread_ts:
        client.chat_postMessage(channel=target.channel, thread_ts=saved.thread_ts,
                                text=reply_view.improved_note(user, needs_another=not curation.self_approval))
    else:
        log.info("correction from %s on %s/%s not saved: %s", user, target.channel, target.ts, saved.result)


def register(app: App) -> None:
    app.action(reply_view.IMPROVE_ACTION)(on_improve_button)
    app.shortcut(view.SHORTCUT_ID)(on_improve_shortcut)
    app.view(view.CALLBACK_ID)(on_improve_saved)
