"""Running the pipeline off the UI thread, with progress per stage and a Cancel.

A wav whose activations fit in memory is computed whole by the chosen engine
(:class:`ActivationJob`); a longer one is read once in pieces and its frames are then
computed around the playhead (:class:`OpenJob`, :mod:`deepbrain.longaudio`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PyQt5 import QtCore

from ..audio import Audio, load_for_model
from ..errors import Cancelled, DeepbrainError
from ..framecache import WHOLE_BYTES
from ..longaudio import ENGINE as LONG_ENGINE
from ..longaudio import is_long, open_long
from ..model import Model
from ..phonelanes import outputs_are_phones
from ..pipeline import (EngineChoice, Progress, Request, compute_activations,
                        utterances_from_wavs)


def stages_for(model: Model) -> tuple[str, ...]:
    """The stages this model goes through: its front end's (mfcc or fbank, pitch, cmvn,
    deltas, splice, transform, as it has them; nnet3: mfcc, ivector), then forward."""
    return model.stage_names


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


class OpenJob(ActivationJob):
    """A long wav read once in pieces (:func:`deepbrain.longaudio.open_long`); ``finished``
    gives ``(OpenedAudio, ComputedFrames)``. Progress is per mille of the samples read."""

    def __init__(self, model: Model, wav: Path, layers: tuple[int, ...]):
        super().__init__(model, wav, layers, None)
        self.stages = ("mfcc",)

    def _report(self, p: Progress) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")
        self.progress.emit(p.stage, 0, 1, p.done * 1000 // max(p.total, 1), 1000)

    def _run(self) -> None:
        try:
            result = open_long(self.model, self.wav, self.layers, outputs_are_phones(self.model),
                               progress=self._report, cancel=self._cancel.is_set)
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - shown to the user in a dialog, never lost
            self.failed.emit(e)
        finally:
            self._thread.quit()


class Processor(QtCore.QObject):
    """One wav at a time: a new :meth:`start` cancels the job before it, whose results are
    then never delivered. Signals (UI thread): ``started(steps, engine_text)``,
    ``progress(text, done, steps)``, then one of ``finished(result)`` (``(acts, audio)``,
    or ``(OpenedAudio, ComputedFrames)`` for a long wav), ``failed(exception)``,
    ``cancelled()``. Wavs whose activations would take more than :attr:`whole_bytes` are
    long."""

    started = QtCore.pyqtSignal(int, str)
    progress = QtCore.pyqtSignal(str, int, int)
    finished = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.whole_bytes = WHOLE_BYTES
        self.job: ActivationJob | None = None
        # Jobs done or cancelled whose thread may still be winding down: a QThread deleted
        # while running aborts the process, so they are kept until it has stopped.
        self._old: list[ActivationJob] = []

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, model: Model, wav: Path, engine: EngineChoice) -> None:
        self.cancel()
        try:
            self.check_whole(model, wav)
        except DeepbrainError as e:
            self.failed.emit(e)
            return
        layers = tuple(sorted(model.maps))
        if self.is_long(model, wav):
            job = OpenJob(model, wav, layers)
            steps, text = 1000, f"a long recording: {LONG_ENGINE}" + (
                f" (engine {engine.name} computes whole utterances)"
                if engine.name != "numpy" else "")
        else:
            job = ActivationJob(model, wav, layers, engine)
            steps, text = len(job.stages), f"engine {engine.name} ({engine.reason})"
        job.progress.connect(self._progress)
        job.finished.connect(self._finished)
        job.failed.connect(self._failed)
        job.cancelled.connect(self._cancelled)
        self.job = job
        self.started.emit(steps, text)
        job.start()

    @staticmethod
    def wants_output(model: Model) -> bool:
        """The output too when it is phones: the window shows the one the model hears."""
        return outputs_are_phones(model)

    def is_long(self, model: Model, wav: Path) -> bool:
        """Whether ``wav``'s activations (every mapped layer) would take more than
        :attr:`whole_bytes`: then it is read once and its frames computed on demand."""
        dims = {k: model.hidden_dims[k - 1] for k in model.maps}
        out = model.nnet.output_dim if self.wants_output(model) else None
        return is_long(model, wav, dims, out, self.whole_bytes)

    def check_whole(self, model: Model, wav: Path) -> None:
        """An nnet3 model's utterance is computed whole: a long one (computed around the
        playhead for nnet1 models) is refused in one line instead."""
        if model.kind == "nnet3" and self.is_long(model, wav):
            raise DeepbrainError(
                f"{wav.name}: its activations would take more than "
                f"{self.whole_bytes >> 20} MB; long recordings are computed around the "
                f"playhead for nnet1 models only, not for nnet3 models yet: cut it into "
                f"shorter parts")

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
        if not self._mine():
            return
        if isinstance(self.job, OpenJob):
            self.progress.emit(f"reading the audio, {stage}: {done / 10:.0f} %", done, total)
            return
        steps = index + (1 if done >= total else 0)
        self.progress.emit(f"{stage} ({min(steps + 1, count)}/{count})", steps, count)

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
