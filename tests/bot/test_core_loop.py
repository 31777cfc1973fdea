"""The product's story: people ask, approve the good answers, and the bot fine-tunes the model that answers next."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from bot.config import DEFAULT_SYSTEM_PROMPT
from storage import queries
from tests.support.products import PRODUCTS
from tests.support.slack import approved_count, wait_for_approved

NIGHT = 18 * 3600  # from 09:00 to the default nightly run at 03:00


def chat_models(stack) -> list[str]:
    return [r.json["model"] for r in stack.openai.requests_to("POST", "/v1/chat/completions")]


def notifications(stack, channel="C0GENERAL") -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel) if m.get("bot_id") and "thread_ts" not in m]


def test_ten_approved_replies_fine_tune_the_model_that_answers_next(stack):
    replies = [stack.ask(f"Review this product: {product}") for product in PRODUCTS]
    assert all(r["bot_id"] == stack.slack.bot_id and r.get("thread_ts") for r in replies)
    assert chat_models(stack) == ["gpt-4.1-mini-2025-04-14"] * 10
    assert "portable Bluetooth speaker" in replies[0]["text"]

    for reply in replies:
        stack.approve(reply)
    wait_for_approved(stack, 10)

    fired = stack.run_schedule(NIGHT)
    assert "finetune-tick" in fired
    creations = stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")
    assert len(creations) == 1
    assert creations[0].json["model"] == "gpt-4.1-mini-2025-04-14"
    assert creations[0].json["suffix"] == "finetune-bot"
    assert creations[0].json["metadata"]["finetune_bot_key"].startswith("finetune-bot-job-")  # findable if the answer is lost
    training = stack.openai.file_content(creations[0].json["training_file"]).decode().splitlines()
    assert len(training) == 10
    first = json.loads(training[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][0]["content"] == DEFAULT_SYSTEM_PROMPT
    assert first["messages"][1]["content"] == f"Review this product: {PRODUCTS[0]}"
    assert first["messages"][2]["content"] == replies[0]["text"]
    assert any("started" in text for text in stack.slack.wait_for(lambda: notifications(stack)))

    stack.run_schedule(60)  # the poll sees the job through validating, queued, running, succeeded
    done = stack.slack.wait_for(lambda: [t for t in notifications(stack) if "is now answering" in t])
    ft_model = stack.openai.jobs()[0]["fine_tuned_model"]
    assert ft_model.startswith("ft:gpt-4.1-mini-2025-04-14:sandbox-org:finetune-bot:")
    where = f"the OpenAI-compatible API at {urlsplit(stack.openai.base_url).netloc}"
    assert done == [f":tada: `{ft_model}` is now answering, served by {where}, trained on 10 examples."]

    after = stack.ask("Review this product: a noise-cancelling headphone")
    assert chat_models(stack)[-1] == ft_model
    assert ft_model in json.dumps(after["blocks"])
    assert after["metadata"]["event_type"] == "finetune_bot_reply"
    assert after["metadata"]["event_payload"]["model"] == ft_model
    assert after["metadata"]["event_payload"]["author"] == "model"
    assert "noise-cancelling headphone" in after["text"]


def test_a_follow_up_in_the_thread_carries_the_earlier_turns(stack):
    first = stack.ask("Review this product: a cast iron skillet")
    thread = first["thread_ts"]
    follow = stack.ask("Is it good for eggs?", thread_ts=thread, mention=False)
    assert follow["thread_ts"] == thread
    sent = stack.openai.requests_to("POST", "/v1/chat/completions")[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Review this product: a cast iron skillet"
    assert sent[2]["content"] == first["text"]
    assert sent[3]["content"] == "Is it good for eggs?"


def test_a_direct_message_is_answered_without_a_mention(stack):
    reply = stack.ask("Review this product: a smart LED desk lamp", channel="D0ALICE", mention=False)
    assert "smart LED desk lamp" in reply["text"]


def test_removing_the_last_approving_reaction_takes_the_example_back_out(stack):
    reply = stack.ask("Review this product: an electric kettle")
    stack.approve(reply, user="U0BOB")
    stack.approve(reply, user="U0ALICE", emoji="star")
    wait_for_approved(stack, 1)
    stack.slack.remove_reaction("U0BOB", "C0GENERAL", reply["ts"], "+1")
    stack.slack.remove_reaction("U0ALICE", "C0GENERAL", reply["ts"], "star")
    wait_for_approved(stack, 0)


def test_reactions_on_other_messages_and_other_emoji_add_nothing(stack):
    reply = stack.ask("Review this product: a mechanical keyboard")
    human = stack.slack.post_as_user("U0BOB", "C0GENERAL", "lunch anyone?")
    stack.slack.add_reaction("U0ALICE", "C0GENERAL", human["ts"], "+1")
    stack.slack.add_reaction("U0ALICE", "C0GENERAL", reply["ts"], "tada")
    stack.approve(reply, user="U0ALICE", emoji="+1::skin-tone-3")  # a skin tone still counts
    wait_for_approved(stack, 1)
    with stack.services.db.session() as session:
        from storage.models import Approval

        assert [(a.user_id, a.reaction) for a in session.query(Approval).all()] == [("U0ALICE", "+1")]


def test_the_swap_survives_a_restart_and_a_restart_mid_job_resumes_the_loop(stack):
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    stack.run_schedule(NIGHT)
    assert len(stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")) == 1

    stack.stop_bot()  # the process dies with the job in flight
    stack.clock.advance(3600)
    stack.start_bot()
    stack.run_schedule(60)
    assert len(stack.openai.requests_to("POST", "/v1/fine_tuning/jobs")) == 1  # resumed, not resubmitted
    ft_model = stack.openai.jobs()[0]["fine_tuned_model"]
    assert ft_model and stack.services.reply_model.current() == ft_model

    stack.stop_bot()
    stack.start_bot()
    stack.ask("Review this product: a travel mug")
    assert chat_models(stack)[-1] == ft_model


def test_a_failed_job_keeps_the_model_and_posts_the_providers_error(stack):
    stack.openai.fail_next_job(code="training_error", message="Training diverged at step 12")
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    stack.run_schedule(NIGHT)
    stack.run_schedule(60)
    failed = stack.slack.wait_for(lambda: [t for t in notifications(stack) if "failed" in t])
    assert "Training diverged at step 12" in failed[0]
    assert stack.services.reply_model.current() == "gpt-4.1-mini-2025-04-14"
    stack.ask("Review this product: a travel mug")
    assert chat_models(stack)[-1] == "gpt-4.1-mini-2025-04-14"
    status = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")
    assert "Training diverged at step 12" in status["ack"]["text"]


def test_the_same_event_delivered_again_makes_one_reply_and_one_example(stack):
    question = stack.slack.post_as_user("U0ALICE", "C0GENERAL", f"<@{stack.slack.bot_user_id}> Review this product: a yoga mat")
    reply = stack.reply_to("C0GENERAL", question["ts"])
    mention = [e for e in stack.slack.events if e["event"]["type"] == "app_mention"][-1]
    status = stack.slack.send_event(mention["event"], event_id=mention["event_id"], retry_num=1, retry_reason="http_timeout")
    assert status == 200
    stack.approve(reply)
    wait_for_approved(stack, 1)
    reaction = [e for e in stack.slack.events if e["event"]["type"] == "reaction_added"][-1]
    stack.slack.send_event(reaction["event"], event_id=reaction["event_id"], retry_num=1, retry_reason="http_timeout")
    assert approved_count(stack) == 1
    stack.slack.remove_reaction("U0BOB", "C0GENERAL", reply["ts"], "+1")
    wait_for_approved(stack, 0)
    # Slack's late redelivery of the 'added' event, after the removal, must not bring the example back.
    stack.slack.send_event(reaction["event"], event_id=reaction["event_id"], retry_num=2, retry_reason="http_timeout")
    with stack.services.db.session() as session:
        from storage.models import ProcessedEvent

        assert session.get(ProcessedEvent, reaction["event_id"]) is not None
    other = stack.ask("Review this product: a second yoga mat")  # a later event, handled after the redelivery
    stack.approve(other)
    wait_for_approved(stack, 1)
    with stack.services.db.session() as session:
        assert queries.approval_count(session, queries.find_reply(session, "C0GENERAL", reply["ts"])) == 0
    bot_replies = [m for m in stack.slack.thread("C0GENERAL", question["ts"]) if m.get("bot_id")]
    assert len(bot_replies) == 1
    assert len(stack.openai.requests_to("POST", "/v1/chat/completions")) == 2  # the yoga mat, then the second one


def test_the_bots_own_reactions_are_ignored(stack):
    reply = stack.ask("Review this product: a garden hose")
    stack.services.slack.reactions_add(channel="C0GENERAL", timestamp=reply["ts"], name="+1")
    stack.slack.wait_for(lambda: [e for e in stack.slack.events if e["event"]["type"] == "reaction_added"])
    stack.approve(reply, user="U0BOB", emoji="tada")  # a later, unrelated event: the bot's one was handled before it
    assert approved_count(stack) == 0


def test_a_fine_tuned_model_the_provider_no_longer_serves_falls_back_to_the_base_model(stack):
    for product in PRODUCTS:
        stack.approve(stack.ask(f"Review this product: {product}"))
    wait_for_approved(stack, 10)
    stack.run_schedule(NIGHT)
    stack.run_schedule(60)
    ft_model = stack.services.reply_model.current()
    assert ft_model.startswith("ft:")
    stack.openai.fail_next("chat.completions", 404, code="model_not_found",
                           message=f"The model `{ft_model}` does not exist or you do not have access to it.")
    asked_before = chat_models(stack).count(ft_model)  # the smoke test before the swap asked it too
    reply = stack.ask("Review this product: a rain jacket")
    assert "rain jacket" in reply["text"] and "Sorry" not in reply["text"]
    assert chat_models(stack)[-2:] == [ft_model, "gpt-4.1-mini-2025-04-14"]
    assert "gpt-4.1-mini-2025-04-14" in json.dumps(reply["blocks"])
    with stack.services.db.session() as session:
        from storage import queries

        assert queries.find_reply(session, "C0GENERAL", reply["ts"]).model == "gpt-4.1-mini-2025-04-14"
    # recorded once: the next question goes straight to the base model, and status says why
    stack.ask("Review this product: a camping stove")
    assert chat_models(stack)[-1] == "gpt-4.1-mini-2025-04-14" and chat_models(stack).count(ft_model) == asked_before + 1
    status = stack.slack.slash_command("U0ALICE", "C0GENERAL", "/finetune", "status")["ack"]["text"]
    assert f"`{ft_model}` is no longer served" in status
