"""Who a posted message notifies, read as Slack reads it.

Slack parses `<@U…>` (a person), `<!here>`, `<!channel>`, `<!everyone>` and `<!subteam^S…>` (a user
group) in a message's text and in the mrkdwn and markdown texts of its blocks; plain_text objects are
not parsed, and `&lt;!here&gt;` is the escaped form, shown as text. Tests ask this instead of
searching message text, so an escape that still pinged would be caught.
"""
from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"<([@!])([^<>|]+)(?:\|[^<>]*)?>")
BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone", "group": "@channel"}


def notified(message: dict[str, Any]) -> set[str]:
    """'@here', '@channel', '@everyone', 'subteam:S…' and user ids this message pings."""
    found: set[str] = set()
    for text in _parsed_texts(message):
        for kind, target in _TOKEN.findall(text):
            if kind == "@":
                found.add(target)
            elif target in BROADCASTS:
                found.add(BROADCASTS[target])
            elif target.startswith("subteam^"):
                found.add("subteam:" + target.split("^", 1)[1])
    return found


def _parsed_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]] if isinstance(message.get("text"), str) else []
    stack: list[Any] = list(message.get("blocks") or []) + list(message.get("attachments") or [])
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") != "plain_text" and isinstance(node.get("text"), str):
                texts.append(node["text"])
            stack.extend(v for k, v in node.items() if isinstance(v, (dict, list)))
    return texts
