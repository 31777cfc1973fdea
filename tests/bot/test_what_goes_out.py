"""What goes out: nothing the bot posts pings a whole channel or a group, and no configured secret leaves it."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.views import reply as view
from sandbox.slack_stub_mentions import notified
from sandbox.stack import LocalStack
from storage import queries
from tests.conftest import _fresh_postgres
from tests.support.products import PRODUCTS
from tests.support.slack import bot_posts, click, command, wait_for_approved
from tests.support.wire import bot_log

NIGHT = 18 * 3600
PINGS = "<!channel> <!here> <!everyone> <!subteam^S0DEVS|@devs>"
DB_PASSWORD = "Db-Pa55word-7f3e"


def _ten_approved(stack) -> None:
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)


def _everything_posted(stack) -> list[dict]:
    """Messages in the channel (and threads), ephemerals, and the text of every Web API call the bot made."""
    messages = [m for m in stack.slack.messages("C0GENERAL") if m.get("bot_id")]
    for root in stack.slack.messages("C0GENERAL"):
        messages += [m for m in stack.slack.thread("C0GENERAL", root["ts"])[1:] if m.get("bot_id")]
    calls = [{"text": c.args.get("text"), "blocks": c.args.get("blocks")} for c in stack.slack.calls
             if c.method.startswith("chat.")]
    return messages + list(stack.slack.ephemerals) + calls


def test_special_mentions_the_model_writes_notify_nobody_and_user_mentions_stay(stack):
    stack.openai.answer_next(f"A loud bell. Tell {PINGS} about it, and thank <@U0BOB>.")
    reply = stack.ask("Review this product: a bell")
    assert notified(reply) == {"U0BOB"}
    assert "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam^S0DEVS|@devs&gt;" in reply["text"]
    for sent in stack.slack.calls_to("chat.update"):  # the streamed edits too
        assert notified(sent.args) <= {"U0BOB"}


def test_a_suggestion_with_special_mentions_is_posted_inert(stack):
    reply = stack.ask("Review this product: a horn")
    better = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"better: {PINGS} it honks", thread_ts=reply["ts"])
    posted = stack.reply_to("C0GENERAL", better["ts"])
    assert notified(posted) == {"U0ALICE"}  # only the footer's "suggested by <@U0ALICE>"
    assert posted["text"].startswith("&lt;!channel&gt;")


def test_notifications_status_and_ephemerals_quoting_a_provider_message_ping_nobody(stack):
    stack.openai.refuse_fine_tuning(f"Fine-tuning is closed; tell {PINGS}.")
    _ten_approved(stack)
    stack.run_schedule(NIGHT)
    status = command(stack, "status")
    command(stack, "run")
    stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals if e.get("source") == "response_url"])
    refused = [t for t in bot_posts(stack) if "refused" in t]
    assert refused and all("&lt;!channel&gt;" in t for t in refused)
    assert "&lt;!here&gt;" in status
    for sent in _everything_posted(stack):
        assert notified(sent) <= {"U0ALICE", "U0BOB"}, sent


@pytest.fixture
def stack_with_db_password(postgres_admin_url, clock) -> Iterator[LocalStack]:
    """The bot on PostgreSQL with a password in DATABASE_URL (the test server trusts any password)."""
    for url in _fresh_postgres(postgres_admin_url):
        with LocalStack(url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1), clock=clock) as running:
            yield running


def test_a_provider_error_quoting_the_signing_secret_and_db_password_is_posted_stored_and_logged_masked(
        stack_with_db_password):
    stack = stack_with_db_password
    signing_secret = stack.slack.signing_secret
    leak = f"Refused: signature {signing_secret} and database password {DB_PASSWORD} are on file."
    assert DB_PASSWORD in stack.settings.secrets()
    with bot_log(stack.settings.secrets()) as log:
        stack.openai.refuse_fine_tuning(leak)
        _ten_approved(stack)
        stack.run_schedule(NIGHT)
        status = command(stack, "status")
        command(stack, "run")
        stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals if e.get("source") == "response_url"])
    posted = json.dumps(_everything_posted(stack)) + status
    assert "Refused: signature [redacted] and database password [redacted] are on file." in posted
    with stack.services.db.session() as session:
        job = queries.latest_job(session)
        stored = json.dumps([job.error_message, [n.payload for n in session.query(queries.Notification)]])
    assert "[redacted]" in job.error_message and "[redacted]" in log.getvalue()
    for secret in (signing_secret, DB_PASSWORD):
        assert secret not in posted and secret not in stored and secret not in log.getvalue()


def test_an_answer_quoting_a_secret_is_posted_masked_and_so_is_the_improve_modal(stack):
    stack.openai.answer_next(f"The bell rings. (debug: token {stack.slack.bot_token}, secret {stack.slack.signing_secret})")
    reply = stack.ask("Review this product: a bell")
    assert stack.slack.bot_token not in json.dumps(reply) and stack.slack.signing_secret not in json.dumps(reply)
    assert "token [redacted], secret [redacted]" in reply["text"]

    click(stack, reply, view.IMPROVE_ACTION, user="U0ALICE")  # a real click, with the trigger_id Slack issued
    opened = stack.slack.wait_for(lambda: stack.slack.calls_to("views.open"))
    modal = json.dumps(opened[0].args)
    assert opened[0].response["ok"] and "[redacted]" in modal
    assert stack.slack.bot_token not in modal and stack.slack.signing_secret not in modal
