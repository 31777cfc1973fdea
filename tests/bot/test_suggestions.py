"""When the bot's answer is not quite right, a person replies `better: …`; approving that teaches the model."""
from __future__ import annotations

import json

from storage import queries
from storage.enums import ReplyAuthor
from tests.support.products import PRODUCTS
from tests.support.slack import wait_for_approved

CHAIR = ("Oh my goodness, this ergonomic office chair is an absolute DREAM! The lumbar support is just *chef's kiss*, "
         "and the adjustable armrests? Pure genius! If you're at your desk all day, you NEED this chair!")


def suggest(stack, reply: dict, text: str, user: str = "U0BOB") -> dict:
    message = stack.slack.post_as_user(user, "C0GENERAL", f"better: {text}", thread_ts=reply["thread_ts"])
    return stack.reply_to("C0GENERAL", message["ts"])


def test_a_better_answer_is_posted_by_the_bot_and_becomes_an_example_when_approved(stack):
    reply = stack.ask("Review this product: a new ergonomic office chair")
    posted = suggest(stack, reply, CHAIR)
    assert posted["bot_id"] == stack.slack.bot_id and posted["text"] == CHAIR
    assert "suggested by <@U0BOB>" in json.dumps(posted["blocks"])
    assert posted["metadata"]["event_payload"]["author"] == "U0BOB"
    assert posted["metadata"]["event_payload"]["model"] == reply["metadata"]["event_payload"]["model"]
    assert len(stack.openai.requests_to("POST", "/v1/chat/completions")) == 1  # a suggestion asks no model

    stack.approve(posted, user="U0ALICE")
    wait_for_approved(stack, 1)
    with stack.services.db.session() as session:
        [example] = queries.approved_replies(session)
        assert example.author == ReplyAuthor.PERSON and example.suggested_by == "U0BOB" and example.reply_text == CHAIR
        assert example.messages[-1] == {"role": "user", "content": "Review this product: a new ergonomic office chair"}


def test_better_with_nothing_to_improve_gets_a_hint(stack):
    human = stack.slack.post_as_user("U0ALICE", "C0GENERAL", "what do we think of standing desks?")
    stack.slack.post_as_user("U0BOB", "C0GENERAL", f"<@{stack.slack.bot_user_id}> better: they are great",
                             thread_ts=human["ts"])
    hint = stack.slack.wait_for(lambda: [m for m in stack.slack.thread("C0GENERAL", human["ts"]) if m.get("bot_id")])
    assert "no answer of mine earlier in this thread" in hint[0]["text"]


def test_the_fine_tuned_model_answers_in_the_style_the_team_taught_it(stack):
    for product in PRODUCTS:
        reply = stack.ask(f"Review this product: {product}")
        better = suggest(stack, reply, f"WOW, {product} is a total GAME-CHANGER! I'm obsessed, you NEED it!")
        stack.approve(better, user="U0ALICE")  # bob wrote it: someone else approves it
    wait_for_approved(stack, 10)
    before = stack.ask("Review this product: a noise-cancelling headphone")
    stack.run_schedule(18 * 3600)
    stack.run_schedule(60)
    after = stack.ask("Review this product: a noise-cancelling headphone")
    assert "GAME-CHANGER" not in before["text"]
    assert "GAME-CHANGER" in after["text"] and "noise-cancelling headphone" in after["text"]
    assert stack.openai.jobs()[0]["training_file"] not in stack.openai.files  # deleted once the job ended
    with stack.services.db.session() as session:
        training = queries.latest_job(session).dataset.jsonl  # the bytes that were uploaded
    assert training.count("GAME-CHANGER") == 10
