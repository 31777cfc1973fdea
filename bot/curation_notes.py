"""Why a person's vote did not count, in words that name who does count."""
from __future__ import annotations

from storage.queries import Curation


def not_a_curator(curation: Curation) -> str:
    names = ", ".join(f"<@{user}>" for user in sorted(curation.curators)[:5])
    more = " and others" if len(curation.curators) > 5 else ""
    return (f"only the team's curators' votes decide what the model learns (CURATOR_USER_IDS): "
            f"ask {names}{more} to approve it.")
