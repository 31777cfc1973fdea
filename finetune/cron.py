"""The FINETUNE_SCHEDULE format: a standard 5-field crontab line, evaluated in UTC."""
from __future__ import annotations

from datetime import UTC

from apscheduler.triggers.cron import CronTrigger


def parse_cron(expression: str) -> CronTrigger:
    """Raises ValueError with APScheduler's reason when the line is not a crontab expression."""
    return CronTrigger.from_crontab(expression, timezone=UTC)
