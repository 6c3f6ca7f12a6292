"""Ctrl-C while a local Dask cluster starts: its worker processes never see it (no pages of
worker tracebacks); this process handles Ctrl-C again once the cluster is up."""

from __future__ import annotations

import multiprocessing
import signal

from collector.run.engine import _workers_ignore_interrupts


def _report(queue) -> None:
    queue.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_processes_started_meanwhile_ignore_ctrl_c_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    ctx = multiprocessing.get_context("spawn")  # as distributed starts its workers
    queue = ctx.Queue()
    with _workers_ignore_interrupts():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        child = ctx.Process(target=_report, args=(queue,))
        child.start()
    assert signal.getsignal(signal.SIGINT) == before
    assert queue.get(timeout=60) is True
    child.join(60)
