"""Only the installed workspace is served: anything carrying another team's id is acknowledged and ignored."""
from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import App, BoltContext, BoltResponse

from bot.workspace import InstalledTeam

log = logging.getLogger("bot.workspace")


def only_the_installed_team(context: BoltContext, body: dict, next: Callable[[], None],
                            installed_team: InstalledTeam) -> BoltResponse | None:
    """A 200 with no body acknowledges the request (Slack neither retries it nor shows an error) and goes no further."""
    team = context.team_id
    installed = installed_team.team_id
    if team is not None and team == installed:
        next()
        return None
    kind = body.get("type") or ("slash_command" if body.get("command") else "request")
    log.info("ignored a %s from team %s: this bot is installed in %s only", kind, team or "(none)", installed)
    return BoltResponse(status=200, body="")


def register(app: App) -> None:
    app.middleware(only_the_installed_team)
