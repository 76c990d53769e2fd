"""Running the pipeline off the UI thread, with progress per stage and a Cancel."""

from __future__ import annotations

import threading
from pathlib import Path

from PyQt5 import QtCore

from ..audio import Audio, load_for_model
from ..errors import Cancelled
from ..model import Model
from ..phonelanes import outputs_are_phones
from ..pipeline import (EngineChoice, Progress, Request, compute_activations,
                        utterances_from_wavs)


def stages_for(model: Model) -> tuple[str, ...]:
    """The stages this model goes through: its front end's (mfcc or fbank, pitch, cmvn,
    deltas, splice, transform, as it has them), then forward."""
    return tuple(s.name for s in model.frontend.stages) + ("forward",)


def compute_one(model: Model, wav: Path, layers: tuple[int, ...], engine: EngineChoice,
                progress=None, cancel=None):
    """The activations of one wav (any rate and channel count: resampled, channel 0)."""
    # the output too when it is phones: the window shows the one the model hears
    request = Request(layers=layers, channel=0, resample=True,
                      output=outputs_are_phones(model))
    utts = utterances_from_wavs([wav])
    return next(iter(compute_activations(utts, model, request, engine, progress=progress,
                                         cancel=cancel)))


def load_audio(model: Model, wav: Path) -> Audio:
    """The samples the engines saw (for playing and drawing)."""
    return load_for_model(wav, model.sample_rate, channel=0, allow_resample=True)


class ActivationJob(QtCore.QObject):
    """One wav through the pipeline in its own QThread.

    Signals arrive in the UI thread: ``progress(stage, index, count, done, total)``,
    then exactly one of ``finished((activations, audio))``, ``failed(exception)``,
    ``cancelled()``.
    """

    progress = QtCore.pyqtSignal(str, int, int, int, int)
    finished = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, model: Model, wav: Path, layers: tuple[int, ...], engine: EngineChoice):
        super().__init__()
        self.model, self.wav, self.layers, self.engine = model, wav, layers, engine
        self.stages = stages_for(model)
        self._cancel = threading.Event()
        self._thread = QtCore.QThread()
        self._thread.setObjectName(f"deepbrain: {wav.name}")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._run)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, ms: int = 30000) -> bool:
        return self._thread.wait(ms)

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def _report(self, p: Progress) -> None:
        if self._cancel.is_set():     # engines check cancel between utterances; this stops
            raise Cancelled("cancelled")  # one long utterance between its stages too
        index = self.stages.index(p.stage) if p.stage in self.stages else 0
        self.progress.emit(p.stage, index, len(self.stages), p.done, p.total)

    def _run(self) -> None:
        try:
            acts = compute_one(self.model, self.wav, self.layers, self.engine,
                               progress=self._report, cancel=self._cancel.is_set)
            audio = load_audio(self.model, self.wav)
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit((acts, audio))
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - shown to the user in a dialog, never lost
            self.failed.emit(e)
        finally:
            self._thread.quit()


class Processor(QtCore.QObject):
    """One wav at a time: a new :meth:`start` cancels the job before it, whose results are
    then never delivered. Signals (UI thread): ``started(stage_count, engine_text)``,
    ``progress(stage, stages_done, stage_count)``, then one of ``finished((acts, audio))``,
    ``failed(exception)``, ``cancelled()``."""

    started = QtCore.pyqtSignal(int, str)
    progress = QtCore.pyqtSignal(str, int, int)
    finished = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job: ActivationJob | None = None
        # Jobs done or cancelled whose thread may still be winding down: a QThread deleted
        # while running aborts the process, so they are kept until it has stopped.
        self._old: list[ActivationJob] = []

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, model: Model, wav: Path, engine: EngineChoice) -> None:
        self.cancel()
        job = ActivationJob(model, wav, tuple(sorted(model.maps)), engine)
        job.progress.connect(self._progress)
        job.finished.connect(self._finished)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self.job = job
        self.started.emit(len(job.stages), f"engine {engine.name} ({engine.reason})")
        job.start()

    def cancel(self) -> None:
        """Cancel the running job (it stops at its next stage) and forget it."""
        job, self.job = self.job, None
        if job is None:
            return
        job.cancel()
        for sig in (job.progress, job.finished, job.failed, job.cancelled):
            sig.disconnect()
        self._retire(job)
        self.cancelled.emit()

    def _retire(self, job: ActivationJob) -> None:
        self._old = [j for j in self._old if j.running] + [job]

    def shutdown(self, ms: int = 5000) -> None:
        self.cancel()
        for job in self._old:
            job.wait(ms)

    def _mine(self) -> bool:
        return self.sender() is self.job and self.job is not None

    def _progress(self, stage: str, index: int, count: int, done: int, total: int) -> None:
        if self._mine():
            self.progress.emit(stage, index + (1 if done >= total else 0), count)

    def _done(self) -> None:
        self._retire(self.job)
        self.job = None

    def _finished(self, acts) -> None:
        if self._mine():
            self._done()
            self.finished.emit(acts)

    def _failed(self, error) -> None:
        if self._mine():
            self._done()
            self.failed.emit(error)

    def _cancelled(self) -> None:
        if self._mine():
            self._done()
            self.cancelled.emit()
