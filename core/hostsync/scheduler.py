"""Scheduling jobs with APScheduler 3 (the one module that imports it).

One scheduled job per configured job, with stable ids so a reload replaces rather than duplicates;
``max_instances=1`` and ``coalesce`` so a slow run is never overlapped by its own next run (the job
lock also covers other processes); runs that were due while the daemon was busy run once, late.
A new configuration's triggers are all built before anything changes, so a configuration the
scheduler cannot take leaves the running schedule as it was.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, JobConfig

log = logging.getLogger("hostsync.scheduler")
MISFIRE_GRACE = 300


def validate_cron(expression: object) -> str | None:
    """Why a crontab expression is invalid (or never fires), or None."""
    if not isinstance(expression, str):
        return "expected a crontab expression such as \"*/15 * * * *\""
    try:
        trigger = CronTrigger.from_crontab(expression)
        never = trigger.get_next_fire_time(None, datetime.now(timezone.utc)) is None
    except Exception as exc:  # APScheduler says ValueError; anything else is as bad
        return f"bad cron expression {expression!r}: {exc}"
    return f"cron expression {expression!r} never fires" if never else None


def trigger_for(job: JobConfig) -> BaseTrigger | None:
    if job.cron:
        return CronTrigger.from_crontab(job.cron)
    if job.every:
        return IntervalTrigger(seconds=job.every)
    return None


class Scheduler:
    """Runs ``run(job_name)`` on each job's schedule, in a small thread pool."""

    def __init__(self, run: Callable[[str], None], workers: int = 4) -> None:
        self.run = run
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
            timezone="UTC",
        )

    @staticmethod
    def triggers(config: Config) -> dict[str, BaseTrigger]:
        """The trigger of every scheduled job of ``config`` (raises before anything is scheduled)."""
        wanted = {}
        for name, job in config.jobs.items():
            trigger = trigger_for(job)
            if trigger is not None:
                wanted[name] = trigger
        return wanted

    def apply(self, config: Config, wanted: dict[str, BaseTrigger] | None = None) -> None:
        """Schedule every job of ``config`` (replacing changed ones) and drop jobs no longer configured."""
        wanted = self.triggers(config) if wanted is None else wanted
        for scheduled in self.scheduler.get_jobs():
            if scheduled.id not in wanted:
                scheduled.remove()
                log.info("unscheduled job %s", scheduled.id)
        for name, trigger in wanted.items():
            existing = self.scheduler.get_job(name)
            if existing is not None and str(existing.trigger) == str(trigger):
                continue
            self.scheduler.add_job(self.run, trigger, args=[name], id=name, name=name, replace_existing=True)
            log.info("scheduled job %s: %s", name, config.jobs[name].schedule)

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
