"""A chosen start written for the schedulers people use: SLURM's ``sbatch --begin``, ``at -t`` and a cron line.

All three read the *local* time of the machine that runs them (SLURM: the controller's), so the start is written
in this machine's local time zone (``TZ``); SLURM takes seconds, ``at`` and cron whole minutes, so those round
*up* (never start before the window).
"""

from __future__ import annotations

from datetime import datetime, timedelta


def _local(start: datetime) -> datetime:
    return start.astimezone()  # the local zone, as the schedulers read their times


def _minute_up(moment: datetime) -> datetime:
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment


def slurm(start: datetime) -> str:
    """``--begin=YYYY-MM-DDTHH:MM:SS`` for ``sbatch`` (local time, seconds rounded up)."""
    local = _local(start)
    if local.microsecond:
        local = local.replace(microsecond=0) + timedelta(seconds=1)
    return f"--begin={local.strftime('%Y-%m-%dT%H:%M:%S')}"


def at(start: datetime) -> str:
    """``-t [[CC]YY]MMDDhhmm`` for ``at`` (local time, rounded up to the minute)."""
    return f"-t {_minute_up(_local(start)).strftime('%Y%m%d%H%M')}"


def cron(start: datetime, command: str = "") -> str:
    """A crontab line for that minute (local time, rounded up): ``M H DOM MON *`` then the command, if any.
    Cron repeats it every year: remove the line after it ran, or let the command do so."""
    local = _minute_up(_local(start))
    line = f"{local.minute} {local.hour} {local.day} {local.month} *"
    return f"{line} {command}" if command else line
