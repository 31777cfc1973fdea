"""The earlier turns of a thread, as the model should see them: people's messages and the bot's real answers."""
from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.questions import Question, strip_mentions, suggested_text
from bot.slack_retry import SlackGaveUp, SlackRetry
from finetune.chat import Turn
from storage import queries
from storage.db import Database
from storage.enums import ReplyStatus

log = logging.getLogger("bot.thread_history")


def thread_turns(
    client: WebClient, db: Database, question: Question, bot_user_id: str, retry: SlackRetry | None = None,
) -> list[Turn]:
    """Turns before the question; the bot's hints and 'better: …' lines are not part of the conversation.

    A thread Slack will not show (after `retry`'s waits, when given) is answered without its history."""
    if not question.thread_ts:
        return []
    thread_ts = question.thread_ts

    def read() -> list[dict]:
        pages = client.conversations_replies(channel=question.channel, ts=thread_ts, limit=200)
        return [m for page in pages for m in page.get("messages", [])]

    try:
        messages = retry.call("reading the thread", read) if retry is not None else read()
    except SlackApiError as exc:
        log.warning("could not read thread %s/%s: %s", question.channel, question.thread_ts, exc.response.get("error"))
        return []
    except SlackGaveUp as exc:
        log.warning("could not read thread %s/%s: %s", question.channel, question.thread_ts, exc)
        return []
    turns: list[Turn] = []
    with db.session() as session:
        for message in messages:
            if float(message.get("ts", "0")) >= float(question.ts):
                continue
            if message.get("user") == bot_user_id or message.get("bot_id"):
                reply = queries.find_reply(session, question.channel, message.get("ts", ""))
                if reply is not None and reply.status == ReplyStatus.ANSWERED and reply.reply_text:
                    turns.append(Turn("assistant", reply.reply_text))
            elif suggested_text(message.get("text", "")) is None and (text := strip_mentions(message.get("text", ""))):
                turns.append(Turn("user", text))
    return turns
