"""SIGTERM and SIGHUP handled like Ctrl-C.

A killed terminal (SIGHUP) or a scheduler's stop (SIGTERM) would otherwise end Python at
once: no ``finally`` runs, so hidden result folders, temporary Kaldi work dirs and Kaldi's
own process group outlive it. :func:`signals_as_interrupts` makes both raise
:class:`Terminated` (a ``KeyboardInterrupt``) in the main thread, so the same clean-up that
serves Ctrl-C serves them. Only the first signal interrupts: a second one while cleaning up
is ignored, so clean-up is never cut short. Only the CLI installs it; library code never
touches signal handlers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread for SIGINT, SIGTERM or SIGHUP; ``exit_code`` is 128 + the
    signal's number, as a shell reports a process ended by it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for a plain Ctrl-C, 128 + the signal for :class:`Terminated`."""
    return exc.exit_code if isinstance(exc, Terminated) else 128 + signal.SIGINT


class Interrupts:
    """What :func:`signals_as_interrupts` saw: ``signum`` of the first signal, else None."""

    signum: int | None = None

    def as_exception(self, exc: BaseException) -> KeyboardInterrupt | None:
        """The interrupt behind ``exc``: itself when it is one; else, once a signal came,
        that signal (code interrupted inside an import or a C extension may turn the
        KeyboardInterrupt into another exception); else None."""
        if isinstance(exc, KeyboardInterrupt):
            return exc
        return Terminated(self.signum) if self.signum is not None else None


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[Interrupts]:
    """Within the block, SIGINT/SIGTERM/SIGHUP raise :class:`Terminated` once."""
    seen = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum, frame):
        if seen.signum is not None:
            return
        seen.signum = signum
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield seen
    finally:
        for s, h in old.items():
            signal.signal(s, h)
