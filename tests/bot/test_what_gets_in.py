"""What gets in: forged, malformed, oversized and odd requests are refused with one log line and change nothing."""
from __future__ import annotations

import json
import select
import time

from slack_bolt.request import BoltRequest

from bot.app import create_app
from bot.inbound import MAX_BODY_BYTES, MAX_DEPTH
from bot.views import reply as view
from sandbox.slack_driver import EventsDriver
from sandbox.stack import LocalStack
from storage.models import Approval, FineTuneJob, ProcessedEvent, Reply
from tests.support.products import PRODUCTS
from tests.support.slack import command, wait_for_approved
from tests.support.wire import RawRequest, bot_log, lines_with

SECRET_WORDS = "the launch code is PURPLE-OTTER-42"


def _driver(stack) -> EventsDriver:
    return EventsDriver(stack.server.url, stack.slack.signing_secret)


def _mention(stack, text: str = SECRET_WORDS, ts: str = "1712345678.000100", event_id: str = "EvIn1", **extra) -> dict:
    event = {"type": "app_mention", "user": "U0ALICE", "text": f"<@{stack.slack.bot_user_id}> {text}", "ts": ts,
             "channel": "C0GENERAL", "event_ts": ts, **extra}
    return stack.slack.event_body(event, event_id=event_id)


def _nothing_written(stack) -> None:
    assert stack.slack.calls_to("chat.postMessage") == []
    with stack.services.db.session() as session:
        assert session.query(ProcessedEvent).count() == 0
        assert session.query(Reply).count() == 0


def test_a_forged_request_is_one_log_line_with_path_length_and_reason_never_its_body(stack):
    body = _mention(stack)
    raw_length = len(json.dumps(body).encode())
    with bot_log(stack.settings.secrets()) as log:
        status, _ = _driver(stack).post_event(body, signature="v0=" + "0" * 64)
        stale, _ = _driver(stack).post_event(body, timestamp=int(time.time()) - 600)
    assert status == 401 and stale == 401
    text = log.getvalue()
    assert "PURPLE-OTTER" not in text and "v0=000" not in text
    refused = lines_with(log, "refused POST /slack/events")
    assert refused == [line for line in text.splitlines() if line.strip()], "nothing else is logged"
    assert f"({raw_length} bytes): invalid signature" in refused[0]
    assert "stale timestamp" in refused[1]
    _nothing_written(stack)


def test_bolts_own_signature_check_logs_one_line_without_the_request(stack):
    """Behind the gate Bolt checks again; its own log of a failure (with the whole body) is cut to one line."""
    app = create_app(stack.services)
    raw = json.dumps(_mention(stack))
    with bot_log(stack.settings.secrets()) as log:
        response = app.dispatch(BoltRequest(body=raw, headers={
            "content-type": "application/json", "x-slack-request-timestamp": str(int(time.time())),
            "x-slack-signature": "v0=" + "1" * 64}))
    assert response.status == 401
    assert "PURPLE-OTTER" not in log.getvalue() and "v0=111" not in log.getvalue()
    assert len(lines_with(log, "refused a request: invalid signature (Bolt's check)")) == 1


def test_a_timestamp_that_is_not_a_number_is_401_and_one_line_not_a_crash(stack):
    driver = _driver(stack)
    raw = json.dumps(_mention(stack)).encode()
    with bot_log(stack.settings.secrets()) as log:
        signed_oddly = driver.post_raw(raw, "application/json", timestamp="12e3", signature=driver.sign(raw, "12e3"))
        words = driver.post_raw(raw, "application/json", timestamp="yesterday")  # type: ignore[arg-type]
    assert signed_oddly[0] == 401 and words[0] == 401
    assert len(lines_with(log, "X-Slack-Request-Timestamp is missing or not a number")) == 2
    assert "Traceback" not in log.getvalue() and "ERROR" not in log.getvalue()
    _nothing_written(stack)


def test_a_signed_body_that_is_not_json_or_a_form_is_400_and_unsigned_is_401(stack):
    driver = _driver(stack)
    cases = [
        (b'{"type": "event_callback", "event": ', "application/json", "not valid JSON or form data"),
        (b'["a", "list"]', "application/json", "not valid JSON or form data"),
        (b"\xff\xfe{}", "application/json", "not UTF-8"),
        (b"payload=%7Bnot-json", "application/x-www-form-urlencoded", "not valid JSON or form data"),
        (b"command=/finetune&text", "application/x-www-form-urlencoded", "not valid JSON or form data"),
    ]
    with bot_log(stack.settings.secrets()) as log:
        signed = [driver.post_raw(raw, kind)[0] for raw, kind, _ in cases]
        unsigned = [driver.post_raw(raw, kind, signature="v0=" + "0" * 64)[0] for raw, kind, _ in cases]
    assert signed == [400] * len(cases) and unsigned == [401] * len(cases)
    for _, _, reason in cases:
        assert lines_with(log, reason)
    assert len(lines_with(log, "refused POST /slack/events")) == 2 * len(cases)
    assert "Traceback" not in log.getvalue() and "ERROR" not in log.getvalue()
    _nothing_written(stack)


def test_a_body_over_the_cap_is_refused_413_before_it_is_read(stack):
    announced = 52 * 1024 * 1024
    with bot_log(stack.settings.secrets()) as log:
        big = RawRequest(stack.server.url, {"Content-Type": "application/json", "Content-Length": str(announced)})
        big.send(b"{" + b" " * 65_535)
        assert big.status() == 413  # answered with only 64 KB of the 52 MB sent
        big.close()

        chunked = RawRequest(stack.server.url, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        while chunked.sent < announced and not select.select([chunked.sock], [], [], 0)[0]:
            if not chunked.chunk(b" " * 65_536):
                break
        assert chunked.status() == 413
        assert chunked.sent < 8 * MAX_BODY_BYTES, f"the server stopped reading near the cap, not at {chunked.sent}"
        chunked.close()
    assert lines_with(log, f"refused POST /slack/events ({announced} bytes announced): RequestEntityTooLarge")
    assert lines_with(log, "refused POST /slack/events (chunked bytes announced): RequestEntityTooLarge")
    _nothing_written(stack)


def test_blocks_nested_thousands_of_levels_deep_are_refused_cheaply_and_a_normal_message_still_answered(stack):
    def with_blocks_nested(levels: int, event_id: str) -> bytes:
        """Written out by hand: Python's own JSON encoder cannot nest this deep either."""
        body = json.dumps(_mention(stack, blocks="BLOCKS", event_id=event_id))
        blocks = '{"type": "rich_text_list", "elements": [' * levels + '{"type": "rich_text"}' + "]}" * levels
        return body.replace('"BLOCKS"', "[" + blocks + "]").encode()

    driver = _driver(stack)
    with bot_log(stack.settings.secrets()) as log:
        deep = driver.post_raw(with_blocks_nested(5_000, "EvDeep"), "application/json")
        just_past = driver.post_raw(with_blocks_nested(MAX_DEPTH, "EvPast"), "application/json")
    assert deep[0] == 400 and just_past[0] == 400
    assert len(lines_with(log, "refused POST /slack/events")) == 2
    assert "Traceback" not in log.getvalue() and "RecursionError" not in log.getvalue()
    _nothing_written(stack)

    reply = stack.ask("Review this product: a paper lamp")  # real rich_text blocks are a few levels deep
    assert "paper lamp" in reply["text"]


def _reaction(stack, item_ts: str, event_ts: str, event_id: str, kind: str = "reaction_added") -> dict:
    return stack.slack.event_body({
        "type": kind, "user": "U0BOB", "reaction": "+1", "item_user": stack.slack.bot_user_id,
        "item": {"type": "message", "channel": "C0GENERAL", "ts": item_ts}, "event_ts": event_ts,
    }, event_id=event_id)


def test_a_reaction_whose_timestamps_are_not_slacks_is_refused_on_the_way_in(stack):
    reply = stack.ask("Review this product: a kettle")
    driver = _driver(stack)
    with bot_log(stack.settings.secrets()) as log:
        for index, (item_ts, event_ts) in enumerate([(reply["ts"], "not-a-ts"), (reply["ts"], "1e9"),
                                                     (reply["ts"] + "0", "1712345678.000200")]):
            assert driver.post_event(_reaction(stack, item_ts, event_ts, f"EvOdd{index}"))[0] == 200
        stack.slack.wait_for(lambda: len(lines_with(log, "not a Slack timestamp")) == 3)
    with stack.services.db.session() as session:
        assert session.query(Approval).count() == 0
    # the reply's later, ordinary events work as before
    stack.approve(reply)
    wait_for_approved(stack, 1)
    stack.slack.remove_reaction("U0BOB", "C0GENERAL", reply["ts"], "+1")
    wait_for_approved(stack, 0)


def _replay_last_command(stack) -> tuple[int, str]:
    """The same form, signed again within the 5 minutes: what someone who captured the request can send.
    Returns the status and the ack's text."""
    form = [d for d in stack.slack.deliveries if d.kind == "slash_commands"][-1].body
    status, ack = _driver(stack).post_command(form)
    return status, ack["text"] if isinstance(ack, dict) else ack


def _calls(stack, route: str) -> int:
    return len([r for r in stack.openai.requests if r.route == route])


def _responses(stack) -> list[str]:
    return [e["text"] for e in stack.slack.ephemerals if e.get("source") == "response_url"]


def test_a_replayed_finetune_run_and_cancel_act_once_per_trigger_id(stack):
    stack.openai.refuse_fine_tuning("This organization is not allowed to create fine-tuning jobs.")
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)

    command(stack, "run")
    stack.slack.wait_for(lambda: len(_responses(stack)) == 1)
    assert _calls(stack, "jobs.create") == 1
    status, ack = _replay_last_command(stack)
    assert status == 200 and "already handled" in ack

    stack.openai.allow_fine_tuning()
    command(stack, "run")  # a new request (a new trigger_id) does act
    stack.slack.wait_for(lambda: len(_responses(stack)) == 2)
    command(stack, "cancel")
    stack.slack.wait_for(lambda: len(_responses(stack)) == 3)
    assert _replay_last_command(stack)[1] == ack
    stack.run_schedule(60)
    assert _calls(stack, "jobs.create") == 2, "the replayed run submitted nothing"
    assert _calls(stack, "jobs.cancel") == 1
    assert len(_responses(stack)) == 3, "the replays answered nothing through the response_url"
    with stack.services.db.session() as session:
        assert [job.state for job in session.query(FineTuneJob).order_by(FineTuneJob.id)] == ["refused", "cancelled"]


def test_nul_bytes_are_stripped_before_anything_is_stored_and_never_reach_a_training_file(stack):
    reply = stack.ask("Review this product: a tea\x00pot")
    assert "teapot" in reply["text"]
    stack.approve(reply)
    stack.openai.answer_next("A fine\x00 mug: sturdy.")
    second = stack.ask("Review this product: a mug")
    suggestion_question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", "better: a sturdy\x00 mug", thread_ts=second["ts"])
    suggestion = stack.reply_to("C0GENERAL", suggestion_question["ts"])
    stack.approve(suggestion)
    wait_for_approved(stack, 2)
    with stack.services.db.session() as session:
        stored = [(r.reply_text, r.messages, r.status) for r in session.query(Reply).order_by(Reply.id)]
    assert [status for *_, status in stored] == ["answered", "answered", "answered"]
    assert "\x00" not in json.dumps(stored, ensure_ascii=False) and "\\u0000" not in json.dumps(stored)
    training = stack.services.pipeline.training_file()
    assert training.examples == 2
    content = training.content.decode()
    assert "\x00" not in content and "\\u0000" not in content and "sturdy mug" in content


def test_an_answer_that_cannot_be_read_gets_a_plain_apology_and_the_detail_goes_to_the_log(stack):
    stack.openai.garble_next_stream()  # streams are not retried once they have begun
    with bot_log(stack.settings.secrets()) as log:
        sorry = stack.ask("Review this product: a radio")
    assert sorry["text"] == view.apology("the model's answer could not be read")
    assert "codec" not in sorry["text"] and "0xff" not in sorry["text"]
    assert lines_with(log, "UnicodeDecodeError: 'utf-8' codec can't decode")
    assert "Traceback" not in log.getvalue()
    assert "radio" in stack.ask("Review this product: a radio")["text"]


def test_at_info_the_log_carries_no_message_text(stack):
    with bot_log(stack.settings.secrets()) as log:
        reply = stack.ask("Review this product: a MARMALADE-KAZOO")
        stack.approve(reply)
        better = stack.slack.post_as_user("U0ALICE", "C0GENERAL", "better: a TANGERINE-BANJO", thread_ts=reply["ts"])
        stack.reply_to("C0GENERAL", better["ts"])
        command(stack, "WALNUT-OBOE please")
        command(stack, "status")
    text = log.getvalue()
    assert "answered C0GENERAL/" in text and "/finetune (unknown subcommand) from U0ALICE" in text
    for words in ("MARMALADE", "KAZOO", "TANGERINE", "BANJO", "WALNUT", "OBOE"):
        assert words.lower() not in text.lower(), words


def test_over_socket_mode_a_payload_nested_too_deep_is_refused_by_the_middleware(tmp_path, clock):
    with LocalStack(f"sqlite:///{tmp_path / 'bot.db'}", clock=clock, socket_mode=True) as stack:
        blocks: list = [{"type": "rich_text"}]
        for _ in range(MAX_DEPTH + 10):
            blocks = [{"type": "rich_text_list", "elements": blocks}]
        with bot_log(stack.settings.secrets()) as log:
            stack.slack.send_event({"type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> hi", "blocks": blocks,
                                    "ts": "1712345678.000100", "channel": "C0GENERAL", "event_ts": "1712345678.000100"})
            stack.slack.wait_for(lambda: lines_with(log, "refused a event_callback payload: nested deeper than"))
        assert "Traceback" not in log.getvalue()
        _nothing_written(stack)
        assert "lamp" in stack.ask("Review this product: a lamp")["text"]
