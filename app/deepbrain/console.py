"""The command line's own output: one line on stderr, whatever the terminal or the pipe.

A file name that is not valid UTF-8 (its bytes kept as surrogates) is shown with \\x escapes
instead of failing to print; a reader that went away (``deepbrain doctor | head -1``) ends
the output quietly instead of with a traceback.
"""

from __future__ import annotations

import os
import select
import sys


def say(line: str) -> None:
    """The line on stderr; a reader of stderr that went away does not change the exit code."""
    try:
        print(printable(line), file=sys.stderr)
    except BrokenPipeError:
        reader_gone()


def printable(text: str) -> str:
    """``text`` with undecodable bytes of file names (surrogates) shown as \\x escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def reader_gone() -> bool:
    """Whether the reader of stdout or stderr went away: a pipe without readers polls as an
    error. Such a stream is pointed at /dev/null, so that nothing more (not even the flush
    at exit) fails on it."""
    gone = False
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
            continue
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0)):
            _to_devnull(fd)
            gone = True
    return gone


def _to_devnull(fd: int) -> None:
    """Point file descriptor ``fd`` at /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class StdoutError(OSError):
    """Standard output could not take what was printed (a full disk, ``> /dev/full``)."""


class GuardedStdout:
    """sys.stdout, whose write errors (other than a reader gone: BrokenPipeError) come out as
    :class:`StdoutError`, so the command line can tell them from its other I/O."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._guarded(self._stream.write, text)

    def flush(self):
        return self._guarded(self._stream.flush)

    @staticmethod
    def _guarded(call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(e.errno, e.strerror) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def silence_stdout() -> None:
    """Point standard output at /dev/null, so that nothing more (not even the flush at exit)
    fails on it."""
    try:
        fd = sys.__stdout__.fileno()
    except (AttributeError, OSError, ValueError):
        return
    _to_devnull(fd)
    try:
        sys.__stdout__.flush()
    except OSError:
        pass
