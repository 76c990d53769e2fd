"""build-map's parallel jobs: forked worker processes that a Ctrl-C stops cleanly.

Each worker inherits its work through fork (nothing large is pickled) and sends its progress
and then its result, or its error, back through a pipe. Ctrl-C reaches the whole process
group, so workers ignore SIGINT and leave the decision to the parent; SIGTERM and SIGHUP
kill a worker outright. The parent stops every worker that is still running whenever it
leaves (done, failed, cancelled or interrupted): SIGTERM, then SIGKILL after a grace period,
and waits for them, so no worker prints a traceback or outlives it. A worker also stops by
itself (at the next utterance) when its parent is gone.

(multiprocessing.Pool did neither: on Ctrl-C its workers printed KeyboardInterrupt traces,
and terminating it while a worker held its queue lock could hang.)
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections import defaultdict
from contextlib import contextmanager
from multiprocessing.connection import wait
from typing import Callable, Iterator, TypeVar

from ..errors import DeepbrainError
from ..pipeline import CancelHook, Progress, ProgressHook, check_cancel

T = TypeVar("T")
Job = Callable[[int, ProgressHook, CancelHook], T]

TERMINATING = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
GRACE_SECONDS = 5.0


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends (then they act as usual): for
    forking, and for cleaning up, which a second Ctrl-C must not cut short."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_forked(n: int, job: Job, total: int, progress: ProgressHook | None = None,
               cancel: CancelHook | None = None) -> list:
    """``job(i, progress, cancel)`` for i in 0..n-1, each in its own forked process.

    ``total`` is the work of all jobs together, for progress. A job's DeepbrainError is
    raised here as it is; anything else that goes wrong in a job is a bug, raised with the
    job's own trace."""
    context = multiprocessing.get_context("fork")
    procs: list = []
    conns: list = []
    try:
        with signals_held():  # no worker may start with the parent's handlers still in place
            for i in range(n):
                recv, send = context.Pipe(duplex=False)
                proc = context.Process(target=_worker, args=(job, i, send, os.getpid()),
                                       name=f"build-map job {i + 1} of {n}", daemon=True)
                proc.start()
                send.close()
                procs.append(proc)
                conns.append(recv)
        return _collect(procs, conns, total, progress, cancel)
    finally:
        with signals_held():
            _stop(procs)
            for conn in conns:
                conn.close()


def _worker(job: Job, i: int, conn, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINATING)

    def report(p: Progress) -> None:
        _send(conn, ("progress", p))

    def orphaned() -> bool:
        return os.getppid() != parent

    try:
        message = ("done", job(i, report, orphaned))
    except DeepbrainError as e:
        message = ("error", e)
    except Exception:
        message = ("error", RuntimeError(f"{multiprocessing.current_process().name} failed:\n"
                                         f"{traceback.format_exc()}"))
    _send(conn, message)
    conn.close()


def _send(conn, message) -> None:
    """Send to the parent; a parent that is gone is no error (the worker just ends)."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        pass
    except Exception:  # an error that cannot be pickled: send its text
        if message[0] == "error":
            _send(conn, ("error", DeepbrainError(str(message[1]))))


def _collect(procs: list, conns: list, total: int, progress: ProgressHook | None,
             cancel: CancelHook | None) -> list:
    results: list = [None] * len(procs)
    pending = {conn: i for i, conn in enumerate(conns)}
    done: dict[str, dict[int, int]] = defaultdict(dict)  # stage -> job -> utterances done
    while pending:
        check_cancel(cancel)
        for conn in wait(list(pending), timeout=0.2):
            i = pending[conn]
            try:
                kind, value = conn.recv()
            except EOFError:
                raise _died(procs[i]) from None
            if kind == "progress":
                done[value.stage][i] = value.done
                if progress:
                    progress(Progress(value.stage, sum(done[value.stage].values()), total))
            elif kind == "error":
                raise value
            else:
                results[i] = value
                del pending[conn]
    return results


def _died(proc) -> DeepbrainError:
    proc.join(GRACE_SECONDS)
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    hint = " (out of memory? try fewer --nj)" if code == -signal.SIGKILL else ""
    return DeepbrainError(f"{proc.name} {how} before it finished{hint}")


def _stop(procs: list) -> None:
    """Stop the workers still running and wait for every one of them."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
