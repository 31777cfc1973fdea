"""Which OAuth scope each Web API method needs, so the stand-in refuses a call the way Slack does.

Slack answers a token without the scope a method needs with {"ok": false, "error": "missing_scope",
"needed": ..., "provided": ...}. Some methods need a different scope by the kind of conversation
(conversations.history in a public channel needs channels:history, in a DM im:history), so a method
maps to a scope per conversation type. Methods missing here need no scope (views.*, auth.test).
The manifest test grants the stand-in exactly manifest.yml's scopes and runs everything a person does.
"""
from __future__ import annotations

# conversation type (as message events name it) -> scope, for methods that read or open conversations
_HISTORY = {"channel": "channels:history", "group": "groups:history", "im": "im:history", "mpim": "mpim:history"}
_READ = {"channel": "channels:read", "group": "groups:read", "im": "im:read", "mpim": "mpim:read"}
_OPEN = {"im": "im:write", "mpim": "mpim:write"}

# method -> a scope for every conversation type ("*" when the type does not matter)
METHOD_SCOPES: dict[str, dict[str, str]] = {
    "chat.postMessage": {"*": "chat:write"},
    "chat.update": {"*": "chat:write"},
    "chat.delete": {"*": "chat:write"},
    "chat.postEphemeral": {"*": "chat:write"},
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.info": _READ,
    "conversations.open": _OPEN,
    "users.info": {"*": "users:read"},
    "reactions.get": {"*": "reactions:read"},
    "reactions.add": {"*": "reactions:write"},
    "reactions.remove": {"*": "reactions:write"},
    "files.getUploadURLExternal": {"*": "files:write"},
    "files.completeUploadExternal": {"*": "files:write"},
}
# Methods that need no scope at all, listed so a new method is a decision, not an accident.
NO_SCOPE = frozenset({"api.test", "auth.test", "apps.connections.open", "chat.getPermalink",
                      "views.open", "views.update", "views.push"})


def needed_scope(method: str, conversation_type: str | None) -> str | None:
    """The scope `method` needs here; None when it needs none (or the conversation is unknown: Slack says so)."""
    by_type = METHOD_SCOPES.get(method)
    if by_type is None:
        return None
    return by_type.get("*") or (by_type.get(conversation_type) if conversation_type else None)


def all_scopes(method: str) -> frozenset[str]:
    """Every scope `method` may need, whatever the conversation."""
    return frozenset(METHOD_SCOPES.get(method, {}).values())
