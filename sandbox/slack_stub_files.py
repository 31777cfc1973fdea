"""Files the app uploads the way slack_sdk's files_upload_v2 does, and the DMs it opens to send them.

Slack's upload is three steps: files.getUploadURLExternal (a file id and an upload URL for `length`
bytes), a POST of the bytes to that URL, then files.completeUploadExternal, which shares the file in a
conversation as a message (subtype file_share) with the initial comment as its text. A file whose
bytes never arrived cannot be completed.
"""
from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

from sandbox.slack_stub_delivery import EventDelivery
from sandbox.slack_stub_events import SlackEvents
from sandbox.slack_stub_objects import SlackObjects
from sandbox.slack_stub_wire import ApiError, arg, flag, json_arg


class Files:
    """Uploads in progress and finished files (their bytes too, for tests), plus conversations.open."""

    def __init__(self, objects: SlackObjects, events: SlackEvents, delivery: EventDelivery) -> None:
        self.objects = objects
        self.workspace = objects.workspace
        self.events = events
        self.delivery = delivery
        self.base_url = ""  # set when the HTTP front starts: upload URLs point at it
        self._lock = threading.Lock()
        self._files: dict[str, dict] = {}  # file id -> file object (plus "_content", "_length", "_upload")
        self._uploads: dict[str, str] = {}  # upload token -> file id

    def methods(self) -> dict[str, Any]:
        return {
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.open": self._conversations_open,
        }

    # ------------------------------------------------------------- what tests read

    def shared_in(self, channel: str) -> list[dict]:
        """Files shared in a conversation, oldest first, each with its bytes under "content"."""
        with self._lock:
            found = [f for f in self._files.values() if channel in f["channels"] + f["ims"] + f["groups"]]
            return [dict(self._public(f), content=f["_content"]) for f in sorted(found, key=lambda f: f["created"])]

    # ------------------------------------------------------------- step 1, 2, 3

    def _get_upload_url(self, args: dict) -> dict:
        filename = arg(args, "filename")
        if not filename:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: filename"]})
        try:
            length = int(arg(args, "length"))
        except ValueError:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: length"]}) from None
        if length < 1:
            raise ApiError("invalid_length")
        file_id, token = self.objects.ids.next("F0"), uuid.uuid4().hex
        with self._lock:
            self._files[file_id] = {
                "id": file_id, "created": self.workspace.now(), "timestamp": self.workspace.now(), "name": filename,
                "title": filename, "mimetype": _mimetype(filename), "filetype": filename.rsplit(".", 1)[-1].lower(),
                "user": self.objects.identity.bot_user_id, "size": length, "mode": "hosted", "is_external": False,
                "is_public": False, "display_as_bot": False, "channels": [], "groups": [], "ims": [],
                "_content": None, "_complete": False,
            }
            self._uploads[token] = file_id
        return {"upload_url": f"{self.base_url}upload/v1/{token}", "file_id": file_id}

    def receive(self, token: str, data: bytes) -> tuple[int, str]:
        """The upload URL: (HTTP status, body) as Slack's file servers answer."""
        with self._lock:
            file_id = self._uploads.pop(token.strip("/"), None)
            if file_id is None:
                return 404, "upload_url_not_found"
            self._files[file_id].update(_content=data, size=len(data))
        return 200, f"OK - {len(data)}"

    def _complete_upload(self, args: dict) -> dict:
        wanted = json_arg(args.get("files"))
        if not isinstance(wanted, list) or not wanted:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: files"]})
        channel_ref = arg(args, "channel_id") or arg(args, "channels").split(",")[0]
        channel = self.workspace.resolve_channel(channel_ref) if channel_ref else None
        if channel_ref and channel is None:
            raise ApiError("channel_not_found")
        with self._lock:
            files = [self._files.get(str((item or {}).get("id"))) for item in wanted]
            if any(f is None or f["_complete"] or f["_content"] is None for f in files):
                raise ApiError("file_not_found")  # unknown, shared already, or its bytes never reached the upload URL
            for item, found in zip(wanted, files, strict=True):
                assert found is not None
                found["_complete"] = True
                found["title"] = item.get("title") or found["name"]
                if channel:
                    found[_kind(self.workspace.channel(channel) or {})].append(channel)
            public = [self._public(f) for f in files if f is not None]
        if channel:
            self._share(channel, public, args)
        return {"files": public}

    def _share(self, channel: str, files: list[dict], args: dict) -> None:
        message = self.objects.bot_message(arg(args, "initial_comment"), json_arg(args.get("blocks")), None, None)
        message.update(subtype="file_share", files=files, upload=True, display_as_bot=False)
        stored, _ = self.workspace.post(channel, message, arg(args, "thread_ts") or None)
        self.delivery.deliver_later(self.events.envelope(self.events.message(channel, stored)))

    # ------------------------------------------------------------- conversations.open

    def _conversations_open(self, args: dict) -> dict:
        if arg(args, "channel"):
            info = self.workspace.channel(arg(args, "channel"))
            if info is None:
                raise ApiError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": info if flag(args.get("return_im")) else {"id": info["id"]}}
        users = [u for u in arg(args, "users").split(",") if u]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] the stand-in opens 1:1 DMs only"]})
        user = users[0]
        if self.workspace.user(user) is None:
            raise ApiError("user_not_found")
        existing = next((c for c in self.workspace.channels() if c.get("is_im") and c.get("user") == user), None)
        info = existing or self.workspace.add_channel(self.objects.im(self.objects.ids.next("D0"), user))
        answer: dict[str, Any] = {"channel": info if flag(args.get("return_im")) else {"id": info["id"]}}
        if existing:
            answer.update(no_op=True, already_open=True)
        return answer

    @staticmethod
    def _public(found: dict) -> dict:
        return copy.deepcopy({k: v for k, v in found.items() if not k.startswith("_")})


def _kind(channel: dict) -> str:
    if channel.get("is_im"):
        return "ims"
    return "groups" if channel.get("is_private") else "channels"


def _mimetype(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower()
    return {"json": "application/json", "jsonl": "application/x-ndjson", "txt": "text/plain",
            "csv": "text/csv"}.get(ext, "application/octet-stream")
