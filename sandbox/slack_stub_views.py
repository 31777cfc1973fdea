"""Modals: views.open, views.update and views.push, what a person sees, and what submitting one does.

Each person has a stack of open modal views (at most 3, Slack's push limit). A view is opened by
exchanging a trigger_id; Slack checks the view first and refuses it with invalid_arguments and the
reasons in response_metadata.messages (a title over 24 characters, an input over 3,000). Submitting
sends view_submission; the app's ack decides what happens next: `errors` keeps the view open with
the messages beside the inputs, `update`/`push` change the stack, `clear` closes it all, and an
empty ack closes the view on top.
"""
from __future__ import annotations

import copy
import threading
from typing import Any

from sandbox.slack_stub_delivery import EventDelivery
from sandbox.slack_stub_interactions import Interaction, InteractionPayloads, Triggers, generated_block_id
from sandbox.slack_stub_objects import SlackObjects
from sandbox.slack_stub_wire import ApiError, arg, json_arg

PUSH_LIMIT = 3
TITLE_LIMIT = 24
INPUT_LIMIT = 3_000  # plain_text_input max_length, and any value typed into one
METADATA_LIMIT = 3_000
BLOCK_LIMIT = 100


class Views:
    """Open modal views per person, their Web API methods, and submitting or closing them."""

    def __init__(self, objects: SlackObjects, triggers: Triggers, payloads: InteractionPayloads,
                 delivery: EventDelivery) -> None:
        self.objects = objects
        self.delivery = delivery
        self.identity = objects.identity
        self.triggers = triggers
        self.payloads = payloads
        self._lock = threading.Lock()
        self._stacks: dict[str, list[dict]] = {}  # user -> views, the one on top last
        self.errors: dict[str, dict[str, str]] = {}  # view id -> the errors the app's last ack showed

    def methods(self) -> dict[str, Any]:
        return {"views.open": self._open, "views.update": self._update, "views.push": self._push}

    # ------------------------------------------------------------- what a person sees

    def open_views(self, user: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._stacks.get(user, []))

    def top(self, user: str) -> dict:
        views = self.open_views(user)
        if not views:
            raise ValueError(f"{user} has no modal open")
        return views[-1]

    # ------------------------------------------------------------- Web API

    def _open(self, args: dict) -> dict:
        view = self._checked(args)
        user = self.triggers.exchange(arg(args, "trigger_id"))
        stored = self._stored(view, previous=None)
        with self._lock:
            self._stacks[user] = [stored]  # a new modal replaces whatever that person had open
        self._changed(user)
        return {"view": copy.deepcopy(stored)}

    def _push(self, args: dict) -> dict:
        view = self._checked(args)
        user = self.triggers.exchange(arg(args, "trigger_id"))
        with self._lock:
            stack = self._stacks.get(user)
            if not stack:
                raise ApiError("not_found")
            if len(stack) >= PUSH_LIMIT:
                raise ApiError("push_limit_reached")
            stored = self._stored(view, previous=stack[-1])
            stack.append(stored)
        self._changed(user)
        return {"view": copy.deepcopy(stored)}

    def _update(self, args: dict) -> dict:
        view = self._checked(args)
        view_id, external_id, expected_hash = arg(args, "view_id"), arg(args, "external_id"), arg(args, "hash")
        if not view_id and not external_id:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id is required"]})
        with self._lock:
            found = next(((user, stack, index) for user, stack in self._stacks.items()
                          for index, current in enumerate(stack)
                          if (view_id and current["id"] == view_id)
                          or (external_id and current["external_id"] == external_id)), None)
            if found is None:
                raise ApiError("not_found")
            user, stack, index = found
            current = stack[index]
            if expected_hash and expected_hash != current["hash"]:
                raise ApiError("hash_conflict")
            stack[index] = self._stored(view, previous=stack[index - 1] if index else None, keep=current)
            updated = copy.deepcopy(stack[index])
        self._changed(user)
        return {"view": updated}

    # ------------------------------------------------------------- a person submits or closes

    def submit(self, user: dict, values: dict[str, str] | None = None) -> Interaction:
        """Submit the view on top of `user`'s stack with the inputs as shown, `values` (block_id -> text) changed.

        Like a Slack client: a required input left empty, or text over an input's max_length, is not sent.
        """
        view = self.top(user["id"])
        state = self._state(view, values or {})
        view["state"] = {"values": state}
        payload = self.payloads.view_submission(user, view, trigger_id=self.triggers.issue(user["id"]))
        status, response = self.delivery.deliver_interaction(payload, accepts_response_payload=True)
        if status == 200:
            self._after_submit(user["id"], view["id"], response or {})
            self._changed(user["id"])
        return Interaction(payload, status, response)

    def close(self, user: dict) -> Interaction | None:
        """The person clicks Close: the top view goes; view_closed is sent only when the view asked for it."""
        view = self.top(user["id"])
        with self._lock:
            self._stacks[user["id"]].pop()
        self._changed(user["id"])
        if not view.get("notify_on_close"):
            return None
        payload = self.payloads.view_closed(user, view)
        status, response = self.delivery.deliver_interaction(payload)
        return Interaction(payload, status, response)

    def _changed(self, user: str) -> None:
        """A person's modals changed: a page showing them (the playground) reads them again."""
        self.objects.workspace.announce({"type": "view", "user": user})

    def _after_submit(self, user: str, view_id: str, response: dict) -> None:
        action = response.get("response_action")
        with self._lock:
            stack = self._stacks.get(user, [])
            if not stack or stack[-1]["id"] != view_id:
                return  # the app changed the stack meanwhile (views.update/push from the listener)
            if action == "errors":
                self.errors[view_id] = dict(response.get("errors") or {})
            elif action == "update":
                stack[-1] = self._stored(self._valid(response.get("view")), previous=stack[-2] if len(stack) > 1 else None,
                                         keep=stack[-1])
            elif action == "push":
                if len(stack) < PUSH_LIMIT:
                    stack.append(self._stored(self._valid(response.get("view")), previous=stack[-1]))
            elif action == "clear":
                stack.clear()
            else:
                stack.pop()

    def _state(self, view: dict, values: dict[str, str]) -> dict[str, dict]:
        state: dict[str, dict] = {}
        unknown = set(values) - {b.get("block_id") for b in view.get("blocks", [])}
        if unknown:
            raise ValueError(f"the modal has no input block {sorted(unknown)}")
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            if element.get("type") != "plain_text_input":
                raise ValueError(f"the stand-in fills plain_text_input elements only, not {element.get('type')}")
            text = values.get(block["block_id"], element.get("initial_value") or "")
            if not text and not block.get("optional"):
                raise ValueError(f"Slack would not send the form: {block['block_id']} is required and empty")
            if len(text) > int(element.get("max_length") or INPUT_LIMIT):
                raise ValueError(f"Slack would not send the form: {block['block_id']} holds {len(text)} characters, "
                                 f"over its {element.get('max_length') or INPUT_LIMIT}")
            state[block["block_id"]] = {element["action_id"]: {"type": "plain_text_input", "value": text or None}}
        return state

    # ------------------------------------------------------------- the view object

    def _checked(self, args: dict) -> dict:
        return self._valid(json_arg(args.get("view")))

    def _valid(self, view: Any) -> dict:
        """The view as Slack would take it, or invalid_arguments with Slack's kind of messages."""
        if not isinstance(view, dict):
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]})
        problems = []
        if view.get("type") != "modal":
            problems.append("[ERROR] must be `modal` [json-pointer:/view/type]")
        title = (view.get("title") or {}).get("text") or ""
        if not title:
            problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        elif len(title) > TITLE_LIMIT:
            problems.append(f"[ERROR] must be less than {TITLE_LIMIT + 1} characters [json-pointer:/view/title/text]")
        blocks = view.get("blocks") or []
        if len(blocks) > BLOCK_LIMIT:
            problems.append(f"[ERROR] no more than {BLOCK_LIMIT} items allowed [json-pointer:/view/blocks]")
        if len(view.get("private_metadata") or "") > METADATA_LIMIT:
            problems.append(f"[ERROR] must be less than {METADATA_LIMIT + 1} characters [json-pointer:/view/private_metadata]")
        has_input = False
        for index, block in enumerate(blocks):
            if block.get("type") != "input":
                continue
            has_input = True
            element = block.get("element") or {}
            pointer = f"/view/blocks/{index}/element"
            if int(element.get("max_length") or INPUT_LIMIT) > INPUT_LIMIT:
                problems.append(f"[ERROR] must be less than {INPUT_LIMIT + 1} [json-pointer:{pointer}/max_length]")
            if len(element.get("initial_value") or "") > INPUT_LIMIT:
                problems.append(f"[ERROR] must be less than {INPUT_LIMIT + 1} characters [json-pointer:{pointer}/initial_value]")
        if has_input and not view.get("submit"):
            problems.append("[ERROR] submit is required when a view has input blocks [json-pointer:/view/submit]")
        if problems:
            raise ApiError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _stored(self, view: dict, *, previous: dict | None, keep: dict | None = None) -> dict:
        """The view object Slack stores and returns: ids, hash, state, and a block_id and action_id on every input."""
        me = self.identity
        view_id = keep["id"] if keep else self.objects.ids.next("V0")
        blocks = copy.deepcopy(view.get("blocks") or [])
        for index, block in enumerate(blocks):
            block.setdefault("block_id", generated_block_id(view_id, index))
            if block.get("type") == "input":
                block["element"].setdefault("action_id", generated_block_id(view_id + "a", index))
        return {
            "id": view_id, "team_id": me.team_id, "type": "modal", "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": f"{self.objects.workspace.now()}.{self.objects.ids.next('')}",
            "title": view.get("title"), "clear_on_close": bool(view.get("clear_on_close")),
            "notify_on_close": bool(view.get("notify_on_close")), "close": view.get("close"),
            "submit": view.get("submit"), "previous_view_id": previous["id"] if previous else None,
            "root_view_id": (keep or {}).get("root_view_id") or (previous or {}).get("root_view_id") or view_id,
            "app_id": me.app_id, "external_id": view.get("external_id", ""), "app_installed_team_id": me.team_id,
            "bot_id": me.bot_id,
        }
