"""The jobs bar: silent when stderr is not a terminal, done/total on one, and the executor's
results unchanged by it."""

from __future__ import annotations

import io
import sys

from attnbench.execution import parallel, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def square(x: int) -> int:
    return x * x


def test_nothing_is_written_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    with progress.Jobs(3, stream=stream) as bar:
        assert not bar.enabled and bar.tick_s is None
        for _ in range(3):
            bar.running([10])
            bar.done()
            bar.tick()
    assert stream.getvalue() == ""


def test_a_terminal_shows_the_jobs_done_out_of_the_total():
    stream = Terminal()
    with progress.Jobs(3, stream=stream) as bar:
        assert bar.enabled and bar.tick_s == progress.TICK_S
        for _ in range(3):
            bar.done()
    final = stream.getvalue().split("\r")[-1]
    assert "jobs: 3/3" in final
    assert "<00:00" in final  # the estimate of the time left


def test_show_false_is_silent_even_on_a_terminal():
    stream = Terminal()
    with progress.Jobs(1, stream=stream, show=False) as bar:
        bar.done()
    assert stream.getvalue() == ""


def test_run_jobs_results_keep_input_order_with_the_bar_on(monkeypatch):
    jobs = [(x,) for x in range(6)]
    serial = parallel.run_jobs(square, jobs, workers=1)
    quiet = parallel.run_jobs(square, jobs, workers=3)
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    shown = parallel.run_jobs(square, jobs, workers=3, first=lambda: None)
    assert shown == quiet == serial == [x * x for x in range(6)]
    assert "jobs: 6/6" in stream.getvalue().split("\r")[-1]
    assert "0/1" not in stream.getvalue()  # `first` gets no bar of its own


def report_and_wait(step: int, seen: str) -> int:
    """A job that reports a step, then stays running until the bar has been given it (the
    file `seen` exists), so the test waits on the bar, not on a guess of the machine's speed."""
    import time
    from pathlib import Path

    progress.report_step(step)
    deadline = time.monotonic() + 120  # a bound only a hang (or a bar never given the step) exceeds
    while not Path(seen).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return step


def test_the_bar_shows_the_steps_the_running_jobs_report(monkeypatch, tmp_path):
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    seen = tmp_path / "seen"
    shown_to_bar = []
    running = progress.Jobs.running

    def record(bar, steps):  # the executor's call, passed on unchanged
        running(bar, steps)
        shown_to_bar.append(list(steps))
        if sorted(steps) == [120, 345]:
            seen.touch()

    monkeypatch.setattr(progress.Jobs, "running", record)
    jobs = [(120, str(seen)), (345, str(seen))]
    assert parallel.run_jobs(report_and_wait, jobs, workers=2) == [120, 345]
    assert [120, 345] in shown_to_bar
    shown = stream.getvalue()
    assert "2 running, at step 120, 345" in shown, shown[-400:]
    progress.report_step(7)  # outside a forked job: nothing to write to, and no error


def test_a_fit_reports_its_steps_to_the_bar(monkeypatch):
    """The Trainer every fit uses hands its step to the bar's shared slot."""
    from attnbench.config import load_params
    from attnbench.training.lit import ReportSteps, build_trainer
    from conftest import SMOKE_PROFILE

    params = load_params(SMOKE_PROFILE)
    trainer = build_trainer(params, "unused")
    assert any(isinstance(c, ReportSteps) for c in trainer.callbacks)
    slot = [0]
    monkeypatch.setattr(progress, "_step_slot", (slot, 0))
    ReportSteps().on_train_batch_end(type("T", (), {"global_step": 42})())
    assert slot == [42]
