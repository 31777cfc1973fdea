"""The facts the bot keeps: replies, approvals, what has been trained on, the reply model."""
from __future__ import annotations

from datetime import timedelta

from storage import queries
from storage.enums import JobState, NotificationKind, ReplyStatus
from storage.models import FineTuneJob, PipelineLease, Reply
from tests.support.factories import answered_reply as _reply


def test_the_same_user_message_is_answered_once(db, clock):
    with db.session() as session:
        assert _reply(session, clock, 1) is not None
    with db.session() as session:
        again = queries.claim_reply(
            session, channel="C1", source_ts="100.000001", thread_ts="100.000001", user_id="U1", team_id="T1",
            model="base", messages=[], now=clock.now(),
        )
        assert again is None
        assert queries.find_reply(session, "C1", "200.000001").reply_text == "a1"


def test_an_event_id_is_taken_once_and_forgotten_later(db, clock):
    with db.session() as session:
        assert queries.claim_event(session, "Ev1", clock.now()) is True
        assert queries.claim_event(session, "Ev1", clock.now()) is False
    with db.session() as session:
        assert queries.claim_event(session, "Ev1", clock.now()) is False
        assert queries.forget_events_before(session, clock.now() + timedelta(seconds=1)) == 1
        assert queries.claim_event(session, "Ev1", clock.now()) is True


def test_removing_the_last_approval_takes_the_example_back_out(db, clock):
    with db.session() as session:
        reply = _reply(session, clock, 1)
        assert queries.add_approval(session, reply, "U2", "+1", clock.now())
        assert not queries.add_approval(session, reply, "U2", "+1", clock.now())  # same person, same emoji
        assert queries.add_approval(session, reply, "U3", "star", clock.now())
        assert queries.example_counts(session) == queries.ExampleCounts(approved=1, untrained=1)
        assert queries.remove_approval(session, reply, "U2", "+1", clock.now())
        assert queries.example_counts(session).approved == 1
        assert queries.remove_approval(session, reply, "U3", "star", clock.now())
        assert queries.example_counts(session) == queries.ExampleCounts(approved=0, untrained=0)
        assert not queries.remove_approval(session, reply, "U3", "star", clock.now())


def test_reaction_events_count_in_slacks_order_even_when_handled_out_of_order(db, clock):
    with db.session() as session:
        reply = _reply(session, clock, 1)
        # added at .100, removed at .200: the removal is handled first, the late 'added' changes nothing
        assert not queries.remove_approval(session, reply, "U2", "+1", clock.now(), "1700000000.000200")
        assert not queries.add_approval(session, reply, "U2", "+1", clock.now(), "1700000000.000100")
        assert queries.approval_count(session, reply) == 0
        # a genuinely later add counts again
        assert queries.add_approval(session, reply, "U2", "+1", clock.now(), "1700000000.000300")
        assert queries.approval_count(session, reply) == 1


def test_examples_count_as_trained_only_after_a_job_succeeds_on_them(db, clock):
    with db.session() as session:
        replies = [_reply(session, clock, n) for n in range(3)]
        for reply in replies:
            queries.add_approval(session, reply, "U2", "+1", clock.now())
        dataset = queries.create_dataset(
            session, reply_ids=[r.id for r in replies[:2]], jsonl="{}\n", sha256="x" * 64, skipped=[], now=clock.now()
        )
        job_id = queries.create_job(session, FineTuneJob(
            dataset_id=dataset.id, state=JobState.SUBMITTED, provider="p", base_model="base",
            attempts=0, created_at=clock.now(), updated_at=clock.now()))
        assert queries.example_counts(session).untrained == 3
        assert queries.transition_job(session, job_id, JobState.SUBMITTED, JobState.SUCCEEDED, clock.now())
        assert queries.example_counts(session) == queries.ExampleCounts(approved=3, untrained=1)
        assert [r.id for r in queries.approved_replies(session)] == [r.id for r in replies]


def test_the_active_model_is_the_latest_swap_and_defaults_to_the_base_model(db, clock):
    with db.session() as session:
        assert queries.active_model(session, "base") == queries.ActiveModel("base", None, None)
        queries.activate_model(session, "ft:base:org::1", None, clock.now())
    clock.advance(60)
    with db.session() as session:
        queries.activate_model(session, "ft:base:org::2", None, clock.now())
    with db.session() as session:
        active = queries.active_model(session, "base")
        assert active.model == "ft:base:org::2"
        assert active.since == clock.now()


def test_notifications_wait_in_the_outbox_until_sent(db, clock):
    with db.session() as session:
        queries.enqueue_notification(session, NotificationKind.JOB_SUCCEEDED, {"job": {"id": 1}}, clock.now())
    with db.session() as session:
        pending = queries.pending_notifications(session)
        assert [n.kind for n in pending] == ["job_succeeded"]
        claimed = queries.claim_notification(session, pending[0].id, "poster-a", clock.now(), timedelta(minutes=5),
                                             channel="C1")
        assert claimed is not None and claimed.attempts == 1 and claimed.channel == "C1"
        assert queries.finish_notification_attempt(session, claimed.id, "poster-a", clock.now(), error=None,
                                                   slack_ts="1.000100")
    with db.session() as session:
        assert queries.pending_notifications(session) == []


def test_a_note_is_claimed_by_one_poster_at_a_time_and_a_dead_posters_claim_runs_out(db, clock):
    ttl = timedelta(minutes=5)
    with db.session() as session:
        note = queries.enqueue_notification(session, NotificationKind.JOB_SUBMITTED, {"job": {"id": 1}}, clock.now())
    with db.session() as session:
        assert queries.claim_notification(session, note.id, "poster-a", clock.now(), ttl, channel="C1") is not None
    with db.session() as session:
        assert queries.claim_notification(session, note.id, "poster-b", clock.now(), ttl, channel="C2") is None
        assert queries.pending_notifications(session, now=clock.now()) == []  # held: not offered to others
    clock.advance(5 * 60 + 1)  # poster-a died mid-post: its claim runs out
    with db.session() as session:
        again = queries.claim_notification(session, note.id, "poster-b", clock.now(), ttl, channel="C2")
        assert again is not None and again.attempts == 2 and again.channel == "C1"  # looked for where it went first
        assert again.first_attempt_at == clock.now() - timedelta(seconds=5 * 60 + 1)
    with db.session() as session:  # poster-a comes back from the dead: its late record changes nothing
        assert not queries.finish_notification_attempt(session, note.id, "poster-a", clock.now(), error=None)
        assert queries.finish_notification_attempt(session, note.id, "poster-b", clock.now(), error="ratelimited")
        assert [n.last_error for n in queries.pending_notifications(session, now=clock.now())] == ["ratelimited"]


def test_the_notify_channel_follows_the_most_recent_approval(db, clock):
    with db.session() as session:
        first, second = _reply(session, clock, 1, channel="C1"), _reply(session, clock, 2, channel="C2")
        assert queries.last_approved_channel(session) is None
        queries.add_approval(session, second, "U2", "+1", clock.now())
        queries.add_approval(session, first, "U2", "+1", clock.now())
        assert queries.last_approved_channel(session) == "C1"


def _claim(session, clock, source_ts, owner=None):
    reply_id = queries.claim_reply(session, channel="C1", source_ts=source_ts, thread_ts=source_ts, user_id="U1",
                                   team_id=None, model="base", messages=[], now=clock.now())
    if owner is not None:
        assert queries.hold_reply(session, reply_id, owner, clock.now(), timedelta(seconds=30))
    return reply_id


def test_a_pending_reply_is_abandoned_once_its_lease_runs_out_and_only_one_process_takes_it_over(db, clock):
    with db.session() as session:
        legacy = _claim(session, clock, "1.1")  # claimed with no lease, by a bot from before leases
        dead = _claim(session, clock, "1.2", owner="dead-process")
        alive = _claim(session, clock, "1.3", owner="dead-process")
    clock.advance(31)
    with db.session() as session:
        assert queries.hold_reply(session, alive, "dead-process", clock.now(), timedelta(seconds=30))  # it renewed
        assert [r.id for r in queries.abandoned_replies(session, clock.now(), clock.now() - timedelta(minutes=5))] == [dead]
    clock.advance(300)
    with db.session() as session:
        found = queries.abandoned_replies(session, clock.now(), clock.now() - timedelta(minutes=5))
        assert [r.id for r in found] == [legacy, dead, alive]
        assert queries.take_over_reply(session, dead, "new-process", clock.now(), timedelta(seconds=30)).id == dead
        assert queries.take_over_reply(session, dead, "twin-process", clock.now(), timedelta(seconds=30)) is None
        # the dead process, had it only been slow, can no longer finish what it lost
        assert not queries.finish_reply(session, dead, text="late", model="base", now=clock.now(), owner="dead-process")
        assert queries.finish_reply(session, dead, text="hi", model="base", now=clock.now(), owner="new-process")
        assert queries.take_over_reply(session, dead, "twin-process", clock.now(), timedelta(seconds=30)) is None
        assert [r.id for r in queries.abandoned_replies(session, clock.now(), clock.now() - timedelta(minutes=5))] == [
            legacy, alive]
    with db.session() as session:
        assert session.get(Reply, dead).status == ReplyStatus.ANSWERED and session.get(Reply, dead).reply_text == "hi"
        assert session.query(PipelineLease).filter_by(name=f"reply:{dead}").count() == 0


def test_a_job_moves_only_from_the_state_its_caller_read(db, clock):
    with db.session() as session:
        dataset = queries.create_dataset(session, reply_ids=[], jsonl="", sha256="x" * 64, skipped=[], now=clock.now())
        job_id = queries.create_job(session, FineTuneJob(
            dataset_id=dataset.id, state=JobState.SUBMITTED, provider="p", base_model="base",
            attempts=0, created_at=clock.now(), updated_at=clock.now()))
    # a poll and a cancel both read 'submitted'; the first move wins, the second finds the job moved on
    with db.session() as session:
        assert queries.transition_job(session, job_id, JobState.SUBMITTED, JobState.CANCELLED, clock.now())
    with db.session() as session:
        assert not queries.transition_job(session, job_id, JobState.SUBMITTED, JobState.SUCCEEDED, clock.now(),
                                          fine_tuned_model="ft:base:org::1")
        assert not queries.update_job(session, job_id, JobState.SUBMITTED, clock.now(), provider_status="running")
    with db.session() as session:
        job = queries.require_job(session, job_id)
        assert job.state == JobState.CANCELLED and job.fine_tuned_model is None and job.provider_status is None


def test_a_model_no_longer_served_is_marked_once_and_the_base_model_answers(db, clock):
    with db.session() as session:
        queries.activate_model(session, "ft:base:org::1", None, clock.now())
    with db.session() as session:
        assert queries.mark_model_unavailable(session, "ft:base:org::1", clock.now())
        assert not queries.mark_model_unavailable(session, "ft:base:org::1", clock.now())
    with db.session() as session:
        active = queries.active_model(session, "base")
        assert active.model == "base" and active.unavailable == "ft:base:org::1"
