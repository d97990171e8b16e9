"""Keep the launcher's children running: a child that exits on its own is started again, with backoff.

`make run` starts gunicorn and an RQ worker; the kernel's OOM killer (or a crash in a native
library) may take either down. The launcher then logs why (exit status or signal), waits a
little (1 s, doubling up to 30 s while the child keeps dying quickly) and starts it again, so the
site keeps serving. Only the launcher's own Ctrl-C / SIGTERM stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class GaveUp(Exception):
    """A child keeps failing (or failed right at its first start): restarting it will not help."""


def describe_exit(returncode: int) -> str:
    """`exited with status 1` or `was killed by signal 9 (SIGKILL)`, for the log line."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-returncode} ({name})"
    return f"exited with status {returncode}"


class Supervised:
    """One child process in its own process group, restarted with exponential backoff when it exits."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, *,
                 log: Callable[[str], None], on_exit: Callable[[Supervised], None] | None = None,
                 first_delay: float = 1.0, max_delay: float = 30.0, stable_after: float = 30.0,
                 startup_grace: float = 5.0, max_quick_failures: int = 8):
        self.name, self.cmd, self.env, self.cwd = name, cmd, env, cwd
        self.log, self.on_exit = log, on_exit
        self.first_delay, self.max_delay, self.stable_after = first_delay, max_delay, stable_after
        self.startup_grace, self.max_quick_failures = startup_grace, max_quick_failures
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.starts = 0
        self.restarts = 0
        self.quick_failures = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        """Start the child (own session: the terminal's Ctrl-C reaches only the launcher)."""
        self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()
        self.starts += 1
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def check(self, now: float | None = None) -> None:
        """Notice an exit (log it, schedule the restart) or start the child again when its delay is over."""
        now = time.monotonic() if now is None else now
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start()
                self.log(f"==> the {self.name} is running again (pid {self.proc.pid}, restart #{self.restarts})")
            return
        if self.proc is None or self.proc.poll() is None:
            return
        ran = now - self.started_at
        why = describe_exit(self.proc.returncode)
        self._kill_leftovers()
        if self.starts == 1 and ran < self.startup_grace and self.proc.returncode > 0:
            # It stopped by itself right away (a port taken, a bad setting): starting it again will not help.
            raise GaveUp(f"the {self.name} {why} {ran:.0f} s after it started (see the lines above)")
        self.quick_failures = self.quick_failures + 1 if ran < self.stable_after else 1
        if self.quick_failures > self.max_quick_failures:
            raise GaveUp(f"the {self.name} {why} again; it failed {self.quick_failures - 1} times in a row "
                         f"within {self.stable_after:.0f} s of starting (see the lines above)")
        delay = min(self.max_delay, self.first_delay * 2 ** (self.quick_failures - 1))
        self.restart_at = now + delay
        self.log(f"==> the {self.name} {why} after {ran:.0f} s; restarting it in {delay:g} s")
        if self.on_exit is not None:
            self.on_exit(self)

    def _kill_leftovers(self) -> None:
        # Whatever the dead child left in its process group (a gunicorn worker, say) would hold the port.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, signals: tuple[int, ...], wait: float) -> None:
        """Send each signal in turn to the child's group, waiting up to `wait` s after each; then SIGKILL."""
        self.restart_at = None
        proc = self.proc
        if proc is None:
            return
        for sig in signals:
            if proc.poll() is not None:
                return
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            self.log(f"==> the {self.name} did not stop; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
