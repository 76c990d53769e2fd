"""Writing an activations directory: ``layerK.ark`` + ``layerK.scp`` per hidden layer.

Binary Kaldi arks keyed by utterance id, with scp files that point at their final place,
written a chunk of frames at a time (:meth:`ResultsWriter.write_chunk`), so an hour of
audio's activations never sit in memory whole.

Results are never lost or half-written, on any filesystem layout (``--out`` a mount point,
a symlink to another disk, a plain folder):

- everything is written into ``OUT/.deepbrain-new-PID/``, inside the output directory and so
  on its filesystem, whatever ``OUT`` is; a failure, a cancel or a signal removes it;
- the commit moves the old results into ``OUT/.deepbrain-old-PID/`` (marked complete when all
  are there), then the new ones into ``OUT``, ``summary.json`` last, then drops the old set.
  At every instant one complete set exists on disk: the old one (in ``OUT`` or in the backup)
  until the new one is complete in ``OUT``;
- a run killed outright (SIGKILL, power) leaves those folders; the next run on the same
  ``OUT`` finishes or rolls back that commit before anything else (:func:`recover`);
- a lock (``OUT/.deepbrain.lock``, ``flock``) keeps two runs from writing one ``OUT``: the
  second fails at once, naming the first one's pid.

Earlier results are never replaced without ``force``; files of the user's own in ``OUT``
are left alone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from pathlib import Path

from .errors import OutputError, OutputExistsError
from .arkstream import ArkWriter
from .artefacts import Activations, Chunk, chunks_of

_RESULT = re.compile(r"^(layer\d+|output|feats|cmvn|cmvn_feats|deltas|spliced|transformed|"
                     r"nnet_input)"
                     r"\.(ark|scp)$|^(summary\.json|utt2num_frames)$")
_NEW, _OLD, _LOCK, _COMPLETE = ".deepbrain-new-", ".deepbrain-old-", ".deepbrain.lock", ".complete"
COMMIT_MARK = "summary.json"  # moved last: OUT holds a complete set when it is there


def existing_results(out_dir: Path) -> list[str]:
    if not out_dir.is_dir():
        return []
    return sorted(p.name for p in out_dir.iterdir() if _RESULT.match(p.name))


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def output_problem(path: Path, e: OSError, what: str = "--out") -> OutputError:
    """One line for an OSError met while writing under ``path``, with the fix."""
    fix = {errno.ENOSPC: "free some space or choose another " + what,
           errno.EDQUOT: "free some space or choose another " + what,
           errno.EROFS: "the filesystem is read-only: choose another " + what,
           errno.EACCES: "you may not write there: choose another " + what,
           errno.EPERM: "you may not write there: choose another " + what,
           errno.ENAMETOOLONG: "the name is too long: choose a shorter " + what,
           errno.ENOTDIR: "a part of the path is a file: choose another " + what}
    return OutputError(f"{path}: cannot write ({_why(e)}); "
                       f"{fix.get(e.errno, 'choose another ' + what)}")


def check_output_dir(out_dir: Path, what: str = "--out") -> None:
    """What can be known before any work: ``out_dir`` is (or can become) a writable
    directory. Raises :class:`OutputError` naming it and the fix."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory; choose another {what}")
    probe = out_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        if probe.is_symlink():  # a dangling symlink
            raise OutputError(f"{probe}: a symlink to nothing; choose another {what}")
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{out_dir}: {probe} is a file, not a directory; choose another "
                          f"{what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: {probe} is not writable; choose another {what}")


class OutputLock:
    """An exclusive ``flock`` on ``DIR/.deepbrain.lock`` holding the owner's pid; the file is
    removed on release (a waiter that locked the removed file notices and retries)."""

    def __init__(self, directory: Path, what: str = "--out"):
        self.path = directory / _LOCK
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise output_problem(self.path.parent, e, self.what) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise OutputError(f"{self.path.parent}: another deepbrain run (pid {owner}) "
                                      f"is writing here; wait for it to finish or choose "
                                      f"another {self.what}") from None
                raise output_problem(self.path.parent, e, self.what) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fd = fd
                return self
            os.close(fd)  # the holder removed it as we locked it: take the new one

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def recover(out_dir: Path) -> list[str]:
    """Finish or roll back what a killed run left in ``out_dir`` (call with the lock held).
    Returns what was done, for a log line."""
    done = []
    for old in sorted(out_dir.glob(_OLD + "*")):
        if not old.is_dir():
            continue
        if (old / _COMPLETE).exists() and (out_dir / COMMIT_MARK).exists():
            done.append(f"dropped the previous results replaced by a killed run ({old.name})")
        else:
            if (old / _COMPLETE).exists():  # new results were half moved in: take them out
                for name in existing_results(out_dir):
                    (out_dir / name).unlink()
            for f in old.iterdir():
                if f.name != _COMPLETE:
                    os.replace(f, out_dir / f.name)
            done.append(f"restored the previous results a killed run was replacing "
                        f"({old.name})")
        shutil.rmtree(old, ignore_errors=True)
    for new in sorted(out_dir.glob(_NEW + "*")):
        shutil.rmtree(new, ignore_errors=True)
        done.append(f"removed a killed run's unfinished results ({new.name})")
    return done


class ResultsWriter:
    """Use as a context manager: ``write`` each utterance, then ``finish``. The checks that
    need no work (a usable ``OUT``, earlier results without ``force``) run at construction;
    the lock is taken on entering."""

    def __init__(self, out_dir: str | os.PathLike, force: bool = False):
        if not str(out_dir).strip():
            raise OutputError("--out is empty; name the directory for the results")
        self.out_dir = Path(out_dir).absolute()
        self.force = force
        check_output_dir(self.out_dir)
        self._refuse_existing()
        self._tmp: Path | None = None
        self._lock: OutputLock | None = None
        self._created: list[Path] = []
        self._arks: dict[str, ArkWriter] = {}
        self._scp: dict[str, list[tuple[str, int]]] = {}
        self._frames: list[tuple[str, int]] = []
        self.recovered: list[str] = []

    def _refuse_existing(self) -> None:
        old = existing_results(self.out_dir)
        if old and not self.force:
            raise OutputExistsError(f"{self.out_dir}: already holds results ({', '.join(old[:4])}"
                                    f"{', ...' if len(old) > 4 else ''}); pass --force to "
                                    f"replace them or choose another --out")

    def __enter__(self) -> "ResultsWriter":
        try:
            missing = [p for p in (self.out_dir, *self.out_dir.parents) if not p.exists()]
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._created = missing
            self._lock = OutputLock(self.out_dir).acquire()
            self.recovered = recover(self.out_dir)
            self._refuse_existing()  # another run may have finished while we computed nothing
            self._tmp = self.out_dir / f"{_NEW}{os.getpid()}"
            self._tmp.mkdir()
        except OSError as e:
            self._cleanup()
            raise output_problem(self.out_dir, e) from None
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        self._close_arks()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        for d in self._created:  # folders this run made and left empty
            try:
                d.rmdir()
            except OSError:
                break
        self._created = []

    def write(self, act: Activations) -> None:
        """One whole utterance."""
        for chunk in chunks_of(act):
            self.write_chunk(chunk)

    def write_chunk(self, chunk: Chunk) -> None:
        """Rows of an utterance, in order: its first chunk starts each table's matrix (the
        row count is the utterance's), the rest append rows (:mod:`deepbrain.arkstream`)."""
        try:
            if chunk.first:
                for name, m in chunk.whole.items():
                    self._scp.setdefault(name, []).append(
                        (chunk.utt_id, self._table(name).whole(chunk.utt_id, m)))
            for name, m in chunk.matrices():
                table = self._table(name)
                if chunk.first:
                    self._scp.setdefault(name, []).append(
                        (chunk.utt_id, table.begin(chunk.utt_id, chunk.total, m.shape[1],
                                                   m.dtype)))
                table.rows(m)
        except OSError as e:
            raise output_problem(self.out_dir, e) from None
        if chunk.last:
            self._frames.append((chunk.utt_id, chunk.total))

    def _table(self, name: str) -> ArkWriter:
        if name not in self._arks:
            self._arks[name] = ArkWriter(self._tmp / f"{name}.ark")
        return self._arks[name]

    def finish(self, summary: dict) -> Path:
        """Write the scp files (pointing at the arks' final place) and move everything in."""
        tmp = self._tmp
        try:
            self._close_arks()
            for name, entries in self._scp.items():
                final_ark = str(self.out_dir / f"{name}.ark")
                (tmp / f"{name}.scp").write_text(
                    "".join(f"{utt} {final_ark}:{off}\n" for utt, off in entries),
                    encoding="utf-8")
            (tmp / "utt2num_frames").write_text("".join(f"{u} {n}\n" for u, n in self._frames))
            (tmp / COMMIT_MARK).write_text(json.dumps(summary, indent=2) + "\n")
            self._commit(tmp)
        except OSError as e:
            raise output_problem(self.out_dir, e) from None
        self._created = []  # they hold results now
        return self.out_dir

    def _close_arks(self) -> None:
        for ark in self._arks.values():
            ark.close()
        self._arks = {}

    def _commit(self, tmp: Path) -> None:
        backup = self.out_dir / f"{_OLD}{os.getpid()}"
        backup.mkdir()
        for name in existing_results(self.out_dir):
            os.replace(self.out_dir / name, backup / name)
        (backup / _COMPLETE).touch()
        for f in sorted(tmp.iterdir(), key=lambda p: p.name == COMMIT_MARK):
            os.replace(f, self.out_dir / f.name)
        shutil.rmtree(backup)
