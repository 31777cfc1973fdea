"""Events API plumbing shared by every event listener: dropping Slack's redeliveries."""
from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import App, BoltResponse

from bot.services import Services
from storage import queries

log = logging.getLogger("bot.events")


def register(app: App, services: Services) -> None:
    @app.middleware
    def drop_redeliveries(body: dict, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        """Slack resends an event it thinks we missed, with the same event_id: take each id once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            with services.db.session() as session:
                first = queries.claim_event(session, event_id, services.clock.now())
            if not first:
                log.info("event %s already taken; acknowledging the redelivery and ignoring it", event_id)
                return BoltResponse(status=200, body="")
        return next()
