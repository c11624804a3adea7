"""What a person watching `mmzoo train` sees between the evaluation lines: a live bar
on a terminal (steps, loss, best val, steps/s, time left), plain lines every
PLAIN_EVERY seconds otherwise, and, as soon as a few steps have been timed, how long
the whole run is expected to take."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

PLAIN_EVERY = 30.0  # seconds between plain progress lines when stderr is not a terminal
TIMED_STEPS = 20  # steps timed before the expected duration is said
SAY_EXPECTED_ABOVE = 10.0  # seconds: shorter runs are not worth a line


def duration(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Pace:
    """Steps per second over this session (a resumed run starts timing afresh)."""

    def __init__(self) -> None:
        self.first_step: int | None = None
        self.started = 0.0

    def rate(self, step: int) -> float | None:
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step, self.started = step, now
            return None
        done, spent = step - self.first_step, now - self.started
        return done / spent if done > 0 and spent > 0 else None


class ProgressReport:
    """The progress callback the Trainer calls after every step: (step, total, train
    loss, best val). `live` draws a rich bar (a terminal); otherwise plain lines."""

    def __init__(self, live: bool, say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> None:
        self.live, self.say = live, say
        self.pace = Pace()
        self.expected_said = False
        self.last_line = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressReport:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  best val {task.fields[val]}  {task.fields[rate]} steps/s"),
                TimeRemainingColumn(),
                transient=False,
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=1, loss="-", val="-", rate="-")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, step: int, total: int, loss: float, best_val: float) -> None:
        rate = self.pace.rate(step)
        if rate is not None and not self.expected_said and step - (self.pace.first_step or 0) >= TIMED_STEPS:
            self.expected_said = True
            left = (total - step) / rate
            if left > SAY_EXPECTED_ABOVE:
                self._say(f"expected: about {duration(left)} for the {total - step:,} steps left ({rate:,.0f} steps/s)")
        if self.bar is not None:
            if step % 10 == 0 or step == total:
                self.bar.update(self.task, completed=step, total=total, loss=_num(loss), val=_num(best_val),
                                rate="-" if rate is None else f"{rate:,.0f}")  # fmt: skip
            return
        now = time.perf_counter()
        if rate is not None and now - self.last_line >= PLAIN_EVERY and step < total:
            self.last_line = now
            self.say(
                f"step {step:,}/{total:,} ({step / total:.0%})  train {_num(loss)}  best val {_num(best_val)}  "
                f"{rate:,.0f} steps/s  about {duration((total - step) / rate)} left"
            )

    def _say(self, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(message)  # above the live bar, which stays at the bottom
        else:
            self.say(message)


def _num(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4f}"
