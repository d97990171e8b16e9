"""webapp.supervise: the launcher's children are restarted with backoff, and given up on only when it cannot help."""

from __future__ import annotations

import signal
import sys

import pytest

from tests.web_support import ROOT
from webapp.supervise import GaveUp, Supervised, describe_exit


def _child(code: str, **kwargs) -> tuple[Supervised, list[str]]:
    lines: list[str] = []
    child = Supervised("helper", [sys.executable, "-c", code], {}, ROOT, log=lines.append, **kwargs)
    return child, lines


def _exited(child: Supervised) -> None:
    child.proc.wait(timeout=30)


def test_exit_descriptions_name_the_status_or_the_signal():
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-9) == "was killed by signal 9 (SIGKILL)"
    assert describe_exit(-signal.SIGTERM) == "was killed by signal 15 (SIGTERM)"


def test_a_child_that_dies_is_started_again_after_a_delay_that_doubles_while_it_keeps_dying():
    died = []
    child, lines = _child("import sys; sys.exit(3)", on_exit=died.append, stable_after=30)
    child.start()
    _exited(child)
    first_pid = child.pid
    child.check(now=child.started_at + 10)  # ran 10 s (past the start-up grace), then exited
    assert lines[-1] == "==> the helper exited with status 3 after 10 s; restarting it in 1 s"
    assert died == [child] and child.pid == first_pid
    child.check(now=child.started_at + 10.5)  # the delay is not over yet
    assert child.pid == first_pid
    child.check(now=child.started_at + 11)
    assert child.pid != first_pid and lines[-1].startswith("==> the helper is running again (pid ")
    _exited(child)
    child.check(now=child.started_at + 2)  # died quickly again: twice the delay
    assert lines[-1] == "==> the helper exited with status 3 after 2 s; restarting it in 2 s"
    child.check(now=child.started_at + 4)
    _exited(child)
    child.check(now=child.started_at + 40)  # this time it had run stably: back to the first delay
    assert lines[-1].endswith("restarting it in 1 s")


def test_a_child_killed_by_a_signal_right_after_starting_is_restarted():
    child, lines = _child("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    child.start()
    _exited(child)
    child.check(now=child.started_at + 0.5)
    assert "was killed by signal 9 (SIGKILL)" in lines[-1] and "restarting it in 1 s" in lines[-1]


def test_a_child_that_fails_at_its_first_start_is_not_restarted():
    child, lines = _child("import sys; sys.exit(1)")
    child.start()
    _exited(child)
    with pytest.raises(GaveUp, match="the helper exited with status 1 0 s after it started"):
        child.check(now=child.started_at + 0.2)


def test_giving_up_after_too_many_quick_failures():
    child, lines = _child("import sys; sys.exit(2)", max_quick_failures=2, max_delay=1.5)
    child.start()
    _exited(child)
    child.check(now=child.started_at + 6)
    child.check(now=child.started_at + 7)
    _exited(child)
    child.check(now=child.started_at + 1)
    assert lines[-1].endswith("restarting it in 1.5 s")  # capped at max_delay
    child.check(now=child.started_at + 3)
    _exited(child)
    with pytest.raises(GaveUp, match="failed 2 times in a row"):
        child.check(now=child.started_at + 1)


def test_stop_ends_a_running_child_and_cancels_a_pending_restart():
    child, _lines = _child("import time; time.sleep(60)")
    child.start()
    child.stop((signal.SIGTERM,), 10)
    assert child.proc.returncode == -signal.SIGTERM
    child.check(now=child.started_at + 10)  # a stop is not a crash: it is logged and scheduled, then...
    child.stop((signal.SIGTERM,), 1)
    assert child.restart_at is None  # ...stop() cancels the restart
