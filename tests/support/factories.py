"""Rows the way the bot writes them (through storage.queries), for tests that start below the Slack surface."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from finetune.clock import Clock
from storage import queries
from storage.db import Database
from storage.models import Reply

BASE = "gpt-4.1-mini-2025-04-14"


def answered_reply(
    session: Session,
    clock: Clock,
    n: int,
    *,
    channel: str = "C1",
    model: str = "base",
    messages: list[dict[str, Any]] | None = None,
    text: str | None = None,
    source_prefix: str = "100",
    reply_prefix: str = "200",
    thread_ts: str | None = None,
) -> Reply:
    """Reply number n, claimed and answered: source ts {source_prefix}.n, bot ts {reply_prefix}.n."""
    reply_id = queries.claim_reply(
        session, channel=channel, source_ts=f"{source_prefix}.{n:06d}", thread_ts=thread_ts or f"{source_prefix}.{n:06d}",
        user_id="U1", team_id="T1", model=model, now=clock.now(),
        messages=messages or [{"role": "system", "content": "s"}, {"role": "user", "content": f"q{n}"}],
    )
    assert reply_id is not None, f"reply {n} was claimed already"
    queries.finish_reply(session, reply_id, text=text or f"a{n}", model=model, now=clock.now(),
                         ts=f"{reply_prefix}.{n:06d}")
    reply = queries.get_reply(session, reply_id)
    assert reply is not None
    return reply


def approve_examples(db: Database, clock: Clock, count: int, start: int = 0) -> None:
    """`count` answered product reviews, each approved by U2: what a tick trains on."""
    with db.session() as session:
        for n in range(start, start + count):
            reply = answered_reply(
                session, clock, n, channel="C1", model=BASE, source_prefix="1", reply_prefix="2",
                messages=[{"role": "system", "content": "Be upbeat."},
                          {"role": "user", "content": f"Review this product: thing {n}"}],
                text=f"Thing {n} is GREAT!",
            )
            queries.add_approval(session, reply, "U2", "+1", clock.now())
