"""The frames of the utterance on screen, computed in a worker thread around the playhead.

A :class:`FrameFeed` holds a :class:`~deepbrain.framecache.FrameCache` (UI thread) and a
thread that computes what the cache lacks near the playhead, nearest first and ahead of it
before behind it: the window asks for frame ``i`` with :meth:`FrameFeed.want` on every draw
and gets its rows from :meth:`FrameFeed.rows` (None until computed; ``arrived`` says when).
A far seek drops the requests made for the old place. An utterance computed whole needs no
thread: its feed holds it.

Live, the same thread also listens: it drains the microphone every few milliseconds, feeds
the samples to the live chain and computes each frame as soon as its context has arrived
(:meth:`FrameFeed.listen`), until :meth:`FrameFeed.stop_listening` finishes the utterance.
The frames waiting are computed together (a network's weights are read once for all of
them, so a few cost hardly more than one), at most :data:`LIVE_CHUNK`: a network too slow for
real time then skips the older ones rather than fall behind the voice (the maps follow it at
a lower frame rate), and the skipped frames are computed when asked for, once live has
stopped.

The worker runs BLAS in one thread (threadpoolctl, where installed). A frame or a block of
128 is a small matrix product, for which OpenBLAS's threads cost more than they give, and far
more on a busy machine: on this project's two loaded cores one BLAS thread computed 4 frames
of the demo model in 2 ms where two took 82 ms; and the other core is left to drawing.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Mapping

import numpy as np
from PyQt5 import QtCore

from ..artefacts import Activations, Chunk
from ..framecache import FrameCache, HeldFrames, LiveFrames

AHEAD = 3000       # frames computed ahead of the playhead (30 s), when the budget holds them
BEHIND = 500       # and behind it
LISTEN_S = 0.004   # how often the microphone is drained while live
LIVE_CHUNK = 4     # most frames computed at once while live (the newest; older ones skipped)


_blas = None


def one_blas_thread():
    """A context in which BLAS runs one thread (a no-op without threadpoolctl)."""
    global _blas
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


class FrameFeed(QtCore.QObject):
    """Signals (UI thread): ``arrived(chunk)`` once a chunk is in the cache; ``failed(error)``
    when computing failed (the feed then computes no more); live, ``ended(error or None)``
    when listening has stopped and the last frames are in."""

    arrived = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object)
    ended = QtCore.pyqtSignal(object)
    _computed = QtCore.pyqtSignal(object)
    _broke = QtCore.pyqtSignal(object)
    _listened = QtCore.pyqtSignal(object)

    def __init__(self, source, cache: FrameCache | None = None, parent=None):
        super().__init__(parent)
        self.source = source
        self.held = isinstance(source, HeldFrames)
        self.cache = cache or (FrameCache.holding(source) if self.held else
                               FrameCache(source.dims, source.output_dim, source.num_frames))
        self.centre = 0
        self.sync = False            # compute missing frames in the caller's thread (export)
        self.broken: BaseException | None = None
        self.mic = None              # an AudioSource while listening
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int]] = []
        self._current: tuple[int, int] | None = None
        self._inflight: set[tuple[int, int]] = set()
        self._stop = False
        self._stop_listening = False
        self._listened_at = threading.Event()    # listening has ended (the error, if any:)
        self.listen_error: BaseException | None = None
        self._live_done = 0
        self.skipped = 0             # live frames not computed to keep up with the voice
        self._thread: threading.Thread | None = None
        self._computed.connect(self._put)
        self._broke.connect(self._on_broke)
        self._listened.connect(self._on_listened)
        if not self.held:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"deepbrain: frames of {source.utt_id}")
            self._thread.start()

    @classmethod
    def holding(cls, acts: Activations, parent=None) -> "FrameFeed":
        return cls(HeldFrames(acts), parent=parent)

    # -- what the window asks ----------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        return self.cache.num_frames

    @property
    def dims(self) -> Mapping[int, int]:
        return self.cache.dims

    @property
    def live(self) -> bool:
        return isinstance(self.source, LiveFrames)

    @property
    def listening(self) -> bool:
        return self.mic is not None

    def reach(self) -> tuple[int, int]:
        """Frames kept computed (behind, ahead of) the playhead, within the cache's budget."""
        room = self.cache.frames_kept - 2 * self.cache.block
        ahead = min(AHEAD, max(self.cache.block, room * 3 // 4))
        return min(BEHIND, max(self.cache.block, room - ahead)), ahead

    def rows(self, i: int) -> Mapping[int, np.ndarray] | None:
        rows = self.cache.rows(i)
        if rows is None and self.sync and 0 <= i < self.num_frames and self.broken is None:
            block = self.cache.block
            a = i // block * block
            self._put(self.source.compute(a, min(a + block, self.num_frames)))
            rows = self.cache.rows(i)
        return rows

    def want(self, i: int) -> None:
        """Frame ``i`` is (about to be) on screen: compute what is missing around it."""
        self.centre = i
        if self.held or self.broken is not None or self.listening:
            return
        behind, ahead = self.reach()
        jobs = self.cache.missing(i, i + ahead) + self.cache.missing(i - behind, i)[::-1]
        with self._cond:
            skip = self._inflight | ({self._current} if self._current else set())
            self._queue = [j for j in jobs if j not in skip]
            if self._queue:
                self._cond.notify()

    def chunks(self):
        return self.cache.chunks()

    # -- live --------------------------------------------------------------------------------

    def listen(self, mic) -> None:
        """Drain ``mic`` (started) into the live source until :meth:`stop_listening`."""
        with self._cond:
            self.mic = mic
            self._cond.notify()

    def stop_listening(self, wait: float = 0.0) -> bool:
        """Stop the microphone and finish the utterance; ``ended`` follows. With ``wait``,
        wait up to that many seconds for the last frames: whether listening has ended."""
        with self._cond:
            self._stop_listening = True
            self._cond.notify()
        return self._listened_at.wait(wait) if wait else False

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._queue and self.mic is None:
                    self._cond.wait()
                if self._stop:
                    return
                listening = self.mic is not None
                if not listening:
                    self._current = self._queue.pop(0)
                job = self._current
            if listening:
                self._listen_once()
                continue
            try:
                with one_blas_thread():
                    chunk = self.source.compute(*job)
            except Exception as e:  # noqa: BLE001 - shown to the user in a dialog
                self._emit(self._broke, e)
                return
            with self._cond:
                self._current = None
                self._inflight.add(job)
            self._emit(self._computed, chunk)

    def _listen_once(self) -> None:
        error = None
        try:
            samples = self.mic.read()
            if samples.shape[0]:
                self.source.accept(samples)
            self._compute_live()
        except Exception as e:  # noqa: BLE001 - a failing microphone ends live mode
            error = e
        with self._cond:
            ending = self._stop_listening or error is not None or self._stop
            if not ending:
                self._cond.wait(LISTEN_S)
                return
        self._end_listening(error)

    def _compute_live(self, catch_up: bool = True) -> None:
        ready = self.source.num_frames
        if catch_up and ready - self._live_done > LIVE_CHUNK:
            self.skipped += ready - LIVE_CHUNK - self._live_done
            self._live_done = ready - LIVE_CHUNK
        while self._live_done < ready:
            a, b = self._live_done, min(ready, self._live_done + LIVE_CHUNK)
            with one_blas_thread():
                chunk = self.source.compute(a, b)
            self._live_done = b
            self._emit(self._computed, chunk)

    def _end_listening(self, error: BaseException | None) -> None:
        mic = self.mic
        try:
            if error is None:
                samples = mic.read()
                if samples.shape[0]:
                    self.source.accept(samples)
        except Exception as e:  # noqa: BLE001
            error = e
        try:
            mic.stop()
        except Exception:  # noqa: BLE001 - the microphone is gone either way
            pass
        try:
            self.source.finish()
            self._compute_live(catch_up=False)
        except Exception as e:  # noqa: BLE001
            error = error or e
        with self._cond:
            self.mic = None
            self._stop_listening = False
        self.listen_error = error
        self._listened_at.set()
        self._emit(self._listened, error)

    def _emit(self, signal, value) -> None:
        try:
            signal.emit(value)
        except RuntimeError:      # the window was closed meanwhile: no one to tell
            pass

    # -- back in the UI thread ---------------------------------------------------------------

    def _put(self, chunk: Chunk) -> None:
        with self._cond:
            self._inflight.discard((chunk.start, chunk.start + chunk.rows))
        end = int(chunk.start + chunk.rows)
        if end > self.cache.num_frames:           # live: the utterance grows
            self.cache.num_frames = end
        self.cache.put(chunk)
        if not self.listening:
            behind, ahead = self.reach()
            self.cache.evict(self.centre - behind, self.centre + ahead)
        else:
            self.cache.evict(self.num_frames - self.cache.frames_kept // 2, self.num_frames)
        self.arrived.emit(chunk)

    def _on_broke(self, error: BaseException) -> None:
        self.broken = error
        self.failed.emit(error)

    def _on_listened(self, error) -> None:
        self.cache.num_frames = self.source.num_frames
        self.ended.emit(error)

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop the thread (and the microphone, if listening)."""
        with self._cond:
            self._stop = True
            self._queue = []
            self._cond.notify()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)
        if self.mic is not None:
            try:
                self.mic.stop()
            except Exception:  # noqa: BLE001
                pass
            self.mic = None

