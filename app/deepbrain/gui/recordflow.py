"""Recording from the UI: start, poll the source on a timer, stop, save, hand the file on."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PyQt5 import QtCore

from ..errors import DeepbrainError
from ..recording import AudioSource, Recorder, recordings_dir, save_recording

POLL_MS = 40          # how often the microphone is drained while recording
MIN_SECONDS = 0.2


class RecordFlow(QtCore.QObject):
    """Signals: ``level(dBFS, seconds)`` while recording, ``saved(path)`` after a stop with
    enough sound, ``failed(title, error)``, ``running(bool)``."""

    level = QtCore.pyqtSignal(float, float)
    saved = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str, object)
    running = QtCore.pyqtSignal(bool)

    def __init__(self, source_factory: Callable[[], AudioSource],
                 directory: Path | None = None, parent=None):
        super().__init__(parent)
        self.source_factory = source_factory
        self.directory = directory
        self.recorder: Recorder | None = None
        self._timer = QtCore.QTimer(self, interval=POLL_MS, timeout=self._poll)

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.recording

    def start(self, rate: int) -> bool:
        try:
            recorder = Recorder(self.source_factory(), rate)
            recorder.start()
        except DeepbrainError as e:
            self.failed.emit("Cannot record", e)
            return False
        self.recorder = recorder
        self._timer.start()
        self.running.emit(True)
        self.level.emit(recorder.level, 0.0)
        return True

    def _poll(self) -> None:
        if not self.recording:
            return
        try:
            level = self.recorder.poll()
        except DeepbrainError as e:
            self.stop(save=False)
            self.failed.emit("Recording failed", e)
            return
        self.level.emit(level, self.recorder.seconds)

    def stop(self, save: bool = True) -> Path | None:
        """Stop; with ``save``, write the recording and emit :attr:`saved`."""
        rec, self.recorder = self.recorder, None
        self._timer.stop()
        if rec is None:
            return None
        self.running.emit(False)
        audio = rec.stop()
        if not save:
            return None
        if audio.duration < MIN_SECONDS:
            self.failed.emit("Recording too short", f"only {audio.duration:.2f} s were "
                             f"recorded; speak for at least {MIN_SECONDS} s")
            return None
        try:
            path = save_recording(audio, self.directory or recordings_dir())
        except DeepbrainError as e:
            self.failed.emit("Cannot save the recording", e)
            return None
        self.saved.emit(path)
        return path
