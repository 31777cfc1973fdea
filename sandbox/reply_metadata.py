"""Who answered a bot reply, read from the Slack message metadata the bot attaches to every answer.

The sandbox never parses the bot's display text (its context footer is for people and may change):
bot.views.reply_metadata puts {"reply_id", "model", "author"} in the message's metadata instead.
The stand-in keeps metadata on stored messages; Slack itself only returns it from
conversations.history/replies when include_all_metadata is set.
"""
from __future__ import annotations

from bot.views.reply import REPLY_EVENT_TYPE

MODEL_AUTHOR = "model"  # storage.enums.ReplyAuthor.MODEL; otherwise the author is the user id of a better answer


def reply_payload(message: dict) -> dict | None:
    """The event_payload of a finetune_bot_reply message, or None for any other message."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != REPLY_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else None


def answered_by(message: dict) -> str | None:
    """The model that wrote a bot answer; None for placeholders, notices and people's better answers."""
    payload = reply_payload(message)
    if payload is None or payload.get("author") != MODEL_AUTHOR:
        return None
    model = payload.get("model")
    return model if isinstance(model, str) and model else None
