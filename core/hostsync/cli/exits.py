"""The exit codes of the ``hostsync`` command, in one place (listed in ``hostsync --help`` and the README).

Scripts and timers branch on them: 75 (``EX_TEMPFAIL`` of sysexits.h) means "nothing went wrong,
another run holds the job: try again later", which a wrapper should not report as a failure.
"""

from __future__ import annotations

from typing import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75
EXIT_SIGINT = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped
EXIT_SIGTERM = 143  # 128 + SIGTERM

HELP = """Exit codes:

\b
  0    all good
  1    something failed (a record, a job, a check), a run was refused (too many deletes or
       changes at once), or `hostsync drift` found a disagreement: see the output and `hostsync runs`
  2    usage or configuration error (unknown option, job or system; a bad config)
  75   a job was running elsewhere (the daemon, another shell): try again later
  130  interrupted by Ctrl-C (SIGINT); 143: stopped by SIGTERM"""


def for_statuses(statuses: Iterable[str]) -> int:
    """The exit code for runs that ended with ``statuses``: a failure outweighs a locked job."""
    seen = set(statuses)
    if seen <= {"ok"}:
        return EXIT_OK
    if seen <= {"ok", "locked"}:
        return EXIT_LOCKED
    return EXIT_FAILED


def for_signal(signum: int) -> int:
    """The exit code of a command a signal stopped: 128 + its number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum
