"""What goes out: everything the bot sends to Slack passes through `safe_text` first.

`safe_text` masks every configured secret (and token-shaped strings) and neutralises Slack's special
mentions (`<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>`, any `<!…>`): they are escaped the way
Slack documents (`&lt;!here&gt;`), so they show as text and notify nobody. User mentions (`<@U…>`) stay.

It is applied where messages leave, not where they are written, so no path can forget it:
- `SafeWebClient`: every Web API call (chat.postMessage, chat.update, chat.postEphemeral, views.*,
  files.*): every `text` in the payload, blocks and views included;
- `SafeAck` and `SafeRespond`: a listener's ack (slash command answers) and its response_url messages.
`guard_outbound` puts the three in each request's Bolt context.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.views import View
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from finetune.redaction import redact

SPECIAL_MENTION = re.compile(r"<(![^<>]*)>")
MENTION_TEXT_KEYS = frozenset({"text", "initial_comment", "fallback", "pretext"})  # where Slack parses mentions
NEVER_TOUCHED = frozenset({"token", "trigger_id", "response_url", "channel", "ts", "thread_ts", "user"})


def neutralise_mentions(text: str) -> str:
    return SPECIAL_MENTION.sub(lambda m: f"&lt;{m.group(1)}&gt;", text)


def safe_text(text: str, secrets: Sequence[str]) -> str:
    """The one function every outbound text goes through: secrets masked, special mentions made inert."""
    return neutralise_mentions(redact(text, secrets))


def safe_payload(value: Any, secrets: Sequence[str], key: str | None = None, plain: bool = False) -> Any:
    """A copy of a Slack payload (dicts, lists, Block Kit objects) with `safe_text` on every text it shows.

    plain_text objects do not parse mentions, so only their secrets are masked; other strings (an input's
    initial value, metadata) are masked too, ids and URLs are left alone.
    """
    if isinstance(value, JsonObject):
        value = value.to_dict()
    if isinstance(value, dict):
        is_plain = value.get("type") == "plain_text"
        return {k: safe_payload(v, secrets, k, is_plain) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_payload(v, secrets, key, plain) for v in value]
    if isinstance(value, str) and key not in NEVER_TOUCHED:
        if key in MENTION_TEXT_KEYS and not plain:
            return safe_text(value, secrets)
        return redact(value, secrets)
    return value


class SafeWebClient(WebClient):
    """slack_sdk's WebClient, with every call's payload made safe just before it is sent."""

    def __init__(self, *args: Any, secrets: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secrets = tuple(secrets)

    def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict | None = None, data: dict | None = None,
                 params: dict | None = None, json: dict | None = None, headers: dict | None = None,
                 auth: dict | None = None) -> SlackResponse:
        clean: Callable[[dict | None], Any] = lambda part: None if part is None else safe_payload(part, self.secrets)
        return super().api_call(api_method, http_verb=http_verb, files=files, data=clean(data), params=clean(params),
                                json=clean(json), headers=headers, auth=auth)


class SafeAck(Ack):
    """Bolt's ack (a slash command's immediate answer, a modal's errors), made safe."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def __call__(self, text: str | dict = "", blocks: Any = None, attachments: Any = None,  # type: ignore[override]
                 *args: Any, errors: dict | None = None, view: dict | View | None = None, **kwargs: Any) -> BoltResponse:
        s = self.secrets
        return super().__call__(
            safe_payload(text, s, "text"), safe_payload(blocks, s), safe_payload(attachments, s), *args,
            errors=safe_payload(errors, s, plain=True), view=safe_payload(view, s), **kwargs)


class SafeRespond(Respond):
    """Bolt's respond (messages through the response_url), made safe."""

    def __init__(self, respond: Respond, secrets: Sequence[str]) -> None:
        super().__init__(response_url=respond.response_url, proxy=respond.proxy, ssl=respond.ssl)
        self.secrets = tuple(secrets)

    def __call__(self, text: str | dict = "", blocks: Any = None, attachments: Any = None,  # type: ignore[override]
                 *args: Any, **kwargs: Any) -> WebhookResponse:
        s = self.secrets
        return super().__call__(safe_payload(text, s, "text"), safe_payload(blocks, s), safe_payload(attachments, s),
                                *args, **kwargs)


def guard_outbound(context: BoltContext, client: SafeWebClient) -> None:
    """Replaces the request's client, ack and respond (before any listener runs) with the safe ones."""
    context["client"] = client
    context["ack"] = SafeAck(client.secrets)
    if context.response_url is not None:
        context["respond"] = SafeRespond(context.respond, client.secrets)
