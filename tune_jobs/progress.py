"""What a user sees while a job runs: trials done / running / failed, best so far, elapsed.

On a terminal one live line is redrawn; in a log (CI, a submitted job) a plain line is printed
when something changed, at most every ``log_interval_s``.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from tune_jobs.core.values import show
from tune_jobs.results.schema import COMPLETED, FAILED, PAUSED, RUNNING, STOPPED
from tune_jobs.results.sink import TrialRecord


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    def __init__(self, console: Console, metric: str, total: int | None, log_interval_s: float = 10.0) -> None:
        self.console, self.metric, self.total = console, metric, total
        self.log_interval_s = log_interval_s
        self.started = time.monotonic()
        self._live: Live | None = None
        self._last_line = ""
        self._last_print = 0.0

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self._live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def note(self, text: str) -> None:
        """One line about an event (a trial that failed), above the live line on a terminal."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def line(self, counts: dict[str, int], best: TrialRecord | None) -> str:
        done = counts.get(COMPLETED, 0) + counts.get(STOPPED, 0)
        total = f"/{self.total}" if self.total else ""
        parts = [
            f"trials {done + counts.get(FAILED, 0)}{total} finished",
            f"{counts.get(RUNNING, 0)} running",
            f"{counts.get(FAILED, 0)} failed",
        ]
        if counts.get(PAUSED):
            parts.append(f"{counts[PAUSED]} paused")
        if counts.get(STOPPED):
            parts.append(f"{counts[STOPPED]} stopped early")
        parts.append(f"best {self.metric} {show(round(best.best, 6)) if best and best.best is not None else '-'}")
        parts.append(f"elapsed {_clock(time.monotonic() - self.started)}")
        return " | ".join(parts)

    def update(self, counts: dict[str, int], best: TrialRecord | None, force: bool = False) -> None:
        text = self.line(counts, best)
        if self._live is not None:
            self._live.update(Text(text))
            return
        now = time.monotonic()
        changed = text.split(" | elapsed")[0] != self._last_line.split(" | elapsed")[0]
        if force or (changed and now - self._last_print >= self.log_interval_s):
            self.console.print(text, highlight=False, soft_wrap=True)
            self._last_line, self._last_print = text, now
