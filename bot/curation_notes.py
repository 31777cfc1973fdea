"""What a person who voted is told: why their vote did not count (naming who does), and what to check."""
from __future__ import annotations

from bot.views import reply as view
from finetune.votes import Vote, VoteResult, answer_of
from storage.db import Database
from storage.queries import Curation


def not_a_curator(curation: Curation) -> str:
    names = ", ".join(f"<@{user}>" for user in sorted(curation.curators)[:5])
    more = " and others" if len(curation.curators) > 5 else ""
    return (f"only the team's curators' votes decide what the model learns (CURATOR_USER_IDS): "
            f"ask {names}{more} to approve it.")


def links_flag(db: Database, vote: Vote, result: VoteResult) -> str | None:
    """When someone approves a person's answer that carries links, they are told so (only them)."""
    if not (vote.approve and vote.positive and result in (VoteResult.COUNTED, VoteResult.OWN_ANSWER)):
        return None
    answer = answer_of(db, vote.channel, vote.ts)
    return view.links_note(answer.links) if answer is not None and answer.links else None
