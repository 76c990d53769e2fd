"""Run each job in a fresh ``os.fork()`` of the caller, a few at a time.

Why fork and not a pool: libespeak-ng keeps state between syntheses (see :mod:`.espeak`), so
every utterance must start from the same pristine, already-initialised library. A fork per
job gives that for ~20 ms each, and makes results independent of order and worker count.
The child sends its result back pickled through a pipe and leaves with ``os._exit``.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import traceback
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import Cancelled, DeepbrainError
from .errors import CorpusError

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often a wait looks at the cancel hook


@dataclass
class _Child:
    pid: int
    index: int
    chunks: list[bytes] = field(default_factory=list)


def fork_map(fn: Callable, jobs: Sequence, workers: int = 2,
             progress: Callable[[int, int, int], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> list:
    """``[fn(job) for job in jobs]``, each call in its own fork, ``workers`` at a time.

    ``progress(done, total, index)`` is called in the caller after each job; ``cancel()`` returning
    True stops the work (children are killed) and raises :class:`Cancelled`. A
    :class:`DeepbrainError` raised in a child is raised again here; anything else is logged
    with the child's traceback and becomes a :class:`CorpusError`.
    """
    if workers < 1:
        raise CorpusError(f"workers must be >= 1, got {workers}; pass --workers 1 or more")
    results: list = [None] * len(jobs)
    running: dict[int, _Child] = {}
    todo = list(enumerate(jobs))[::-1]
    done = 0
    try:
        while todo or running:
            if cancel is not None and cancel():
                raise Cancelled(f"cancelled after {done} of {len(jobs)} jobs")
            while todo and len(running) < workers:
                index, job = todo.pop()
                fd, child = _spawn(fn, job, index)
                running[fd] = child
            for fd in select.select(list(running), [], [], _POLL_S)[0]:
                data = os.read(fd, 1 << 16)
                if data:
                    running[fd].chunks.append(data)
                    continue
                child = running.pop(fd)
                results[child.index] = _finish(fd, child)
                done += 1
                if progress is not None:
                    progress(done, len(jobs), child.index)
    finally:
        _kill_all(running)
    return results


def _spawn(fn: Callable, job, index: int) -> tuple[int, _Child]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(r)
            try:
                payload = ("ok", fn(job))
            except DeepbrainError as e:
                payload = ("error", e)
            except BaseException:
                payload = ("crash", traceback.format_exc())
            with os.fdopen(w, "wb") as out:
                out.write(pickle.dumps(payload))
        except BaseException:
            status = 70
        finally:
            os._exit(status)
    os.close(w)
    return r, _Child(pid, index)


def _finish(fd: int, child: _Child):
    """Collect a child that closed its pipe: its result, or raise its error."""
    os.close(fd)
    _, status = os.waitpid(child.pid, 0)
    data = b"".join(child.chunks)
    if not data:
        raise CorpusError(f"job {child.index}: worker process {child.pid} died "
                          f"(wait status {status}) without a result; rerun with workers=1 "
                          f"to see whether it is reproducible")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise value
    if kind == "crash":
        log.error("job %d failed in its worker:\n%s", child.index, value)
        last = value.strip().splitlines()[-1]
        raise CorpusError(f"job {child.index} failed in its worker ({last}); this is a bug, "
                          f"the full traceback is in the log")
    return value


def _kill_all(running: dict[int, _Child]) -> None:
    """Kill and reap the children still running (after an error or a cancel)."""
    for fd, child in running.items():
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(child.pid, 0)
        os.close(fd)
    running.clear()
