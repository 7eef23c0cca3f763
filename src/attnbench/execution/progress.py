"""A stage's jobs done out of its total, the running jobs' training steps, and the elapsed
and estimated remaining time (tqdm), on stderr, and only when stderr is a terminal: under CI,
DVC or a log file it writes nothing. It only counts what the executor collects and what the
jobs report (report_step writes one integer to shared memory), so it changes no result, no
job order and no byte of any output.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

TICK_S = 1.0  # how often a waiting executor redraws the bar (elapsed and ETA keep moving)

# In a forked job: (the executor's shared array of steps, this job's index); None elsewhere.
_step_slot: tuple | None = None


def report_to(steps, index: int) -> None:
    """In a forked job, before it runs: report_step writes into steps[index]."""
    global _step_slot
    _step_slot = (steps, index)


def report_step(step: int) -> None:
    """The job's training step so far, for the stage's bar; a no-op outside a forked job."""
    if _step_slot is not None:
        steps, index = _step_slot
        steps[index] = step


class _Bar(tqdm):
    """tqdm without its monitor thread: the executor forks workers while the bar is open,
    and a fork must not copy a lock that thread may hold."""

    monitor_interval = 0


class Jobs:
    """`with Jobs(total) as bar:` ... `bar.done()` per finished job. Disabled (a no-op) when
    the stream is not a terminal; `tick_s` is then None, so a caller's wait needs no timeout."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "jobs",
                 show: bool = True):
        stream = sys.stderr if stream is None else stream
        self.enabled = show and _is_terminal(stream)
        self.tick_s = TICK_S if self.enabled else None
        self._bar = _Bar(total=total, desc=label, unit="job", file=stream, disable=not self.enabled,
                         dynamic_ncols=True, mininterval=0, leave=True,
                         bar_format="{desc}: {n_fmt}/{total_fmt} {bar} [{elapsed}<{remaining}]{postfix}")

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Leave the bar's last state on its line (a no-op when disabled or closed)."""
        if self.enabled and self._bar.n >= self._bar.total:
            self._bar.set_postfix_str("", refresh=False)  # none running any more
        self._bar.close()

    def done(self, count: int = 1) -> None:
        """`count` more jobs finished."""
        self._bar.update(count)

    def running(self, steps: list[int]) -> None:
        """The training step each running job has reached (shown after the counts)."""
        if self.enabled:
            at = f", at step {', '.join(map(str, steps))}" if any(steps) else ""
            self._bar.set_postfix_str(f"{len(steps)} running{at}", refresh=False)

    def tick(self) -> None:
        """Redraw, so that the elapsed time and the estimate move while no job finishes."""
        if self.enabled:
            self._bar.refresh()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
