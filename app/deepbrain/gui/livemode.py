"""Live mode: speak and watch. The maps follow the voice, frame by frame, as the microphone
delivers it.

With **Live** on, the microphone is drained every few milliseconds in the frame worker's
thread (:meth:`deepbrain.gui.frames.FrameFeed.listen`) and each frame is computed as soon as
its right context has arrived, by the live chain (:class:`deepbrain.live.LiveComputer`):
online CMVN instead of the model's per-utterance CMVN, so live numbers differ from offline
ones; a bar over the maps says so for as long as the live utterance is shown. Stopping saves
the recording as the Record button does and keeps the live utterance on screen to play and
browse; **Recompute offline** runs the saved wav through the model as any wav.

A microphone that fails mid-stream ends live mode: what was heard before is kept and saved,
and a dialog says what happened.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtWidgets

from ..audio import Audio
from ..errors import DeepbrainError
from ..framecache import LiveFrames
from ..live import LiveComputer
from ..phonelanes import outputs_are_phones
from ..recording import level_db, recordings_dir, save_recording
from .frames import FrameFeed
from .recordflow import MIN_SECONDS

STRIP_MS = 300        # how often the strip and meter follow the voice
STRIP_SECONDS = 10.0  # the strip shows the last seconds heard
NOTICE_STYLE = ("QLabel { color: #1b1e23; background: #e3b341; border-radius: 3px; "
                "padding: 2px 8px; font-weight: bold; }")


class LiveMode(QtCore.QObject):
    """The Live toggle, the notice bar and the live utterance's life."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.feed: FrameFeed | None = None
        self.frames: LiveFrames | None = None
        self.saved: Path | None = None
        self._draw_pending = False
        self._ended_for: FrameFeed | None = None
        self.action = QtWidgets.QAction("\u25c9 Live", window, checkable=True)
        self.action.setToolTip("compute and show frames as the microphone hears them (online "
                               "CMVN: the numbers differ from offline ones)")
        self.action.triggered.connect(self.toggle)
        window.main_bar.insertAction(window.record_separator, self.action)
        self.notice = QtWidgets.QLabel()
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setSizePolicy(QtWidgets.QSizePolicy.Expanding,
                                  QtWidgets.QSizePolicy.Fixed)
        self.recompute = QtWidgets.QPushButton("Recompute offline")
        self.recompute.setToolTip("run the saved recording through the model as any wav "
                                  "(per-utterance CMVN, as deepbrain activations)")
        self.recompute.clicked.connect(self.recompute_offline)
        self.bar = QtWidgets.QToolBar("live notice")
        self.bar.setMovable(False)
        holder = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(holder)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.notice, 1)
        row.addWidget(self.recompute)
        self.bar.addWidget(holder)
        window.addToolBarBreak()
        window.addToolBar(self.bar)
        self.bar.hide()
        self._timer = QtCore.QTimer(self, interval=STRIP_MS, timeout=self._follow_strip)
        window.result_shown.connect(self._shown)

    @property
    def listening(self) -> bool:
        return self.feed is not None and self.feed.listening

    def toggle(self) -> None:
        if self.listening:
            self.stop()
        else:
            self.start()

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> bool:
        w = self.w
        self.action.setChecked(False)
        if w.model is None:
            w.show_error("No model", "open a model directory first (Open model\u2026)")
            return False
        if w.recording.recording:
            w.show_error("Live", "a recording is running: stop it first")
            return False
        if w.model.kind == "nnet3":
            w.show_error("Live", f"{w.model.path.name}: live mode is not available for nnet3 "
                         f"models yet (it needs an nnet1 front end); record, then the "
                         f"recording is shown whole")
            return False
        w.pause()
        w.cancel_processing()
        model = w.model
        try:
            mic = w.recording.source_factory()
            mic.start(model.sample_rate)
        except DeepbrainError as e:
            w.show_error("Cannot listen", e)
            return False
        layers = tuple(sorted(model.maps))
        output = outputs_are_phones(model)
        live = LiveComputer(model, layers, output)
        self.frames = LiveFrames(live, {k: model.hidden_dims[k - 1] for k in layers},
                                 model.nnet.output_dim if output else None, model.sample_rate)
        feed = FrameFeed(self.frames, parent=w)
        feed.listen(mic)
        feed.arrived.connect(self._arrived)
        feed.ended.connect(self._ended)
        self.feed, self.saved = feed, None
        w.wav = None
        w.show_frames(feed, Audio(np.zeros(0, np.int16), model.sample_rate, "live"),
                      name="live")
        self.notice.setText(live.description)
        self.recompute.setEnabled(False)
        self.recompute.setVisible(False)
        self.bar.show()
        self.action.setChecked(True)
        self.action.setText("\u25a0 Stop live")
        w.record_action.setEnabled(False)
        w.record_indicator.start()
        w._say("live: speak; the maps follow the voice (Stop live to end and keep it)")
        self._timer.start()
        return True

    # -- while listening ---------------------------------------------------------------------

    def _arrived(self, chunk) -> None:
        if self.listening and not self._draw_pending:
            self._draw_pending = True
            QtCore.QTimer.singleShot(0, self._draw_newest)

    def _draw_newest(self) -> None:
        self._draw_pending = False
        w = self.w
        if self.feed is None or w.feed is not self.feed or not self.feed.listening:
            return
        n = self.feed.num_frames
        if n:
            w.colours.num_frames = n
            w.transport.set_frames(n)
            for b in (w.transport.play_button, w.transport.pause_button,
                      w.transport.stop_button):
                b.setEnabled(False)          # nothing to play until live stops
            w._draw(n - 1)

    def _follow_strip(self) -> None:
        """The last seconds heard in the strip, the level and time on the meter."""
        if not self.listening:
            return
        x = self.frames.samples()
        rate = self.frames.rate
        w = self.w
        w.record_indicator.show_level(level_db(x[-rate // 10:]), x.shape[0] / rate)
        start = max(0, x.shape[0] - int(STRIP_SECONDS * rate))
        if x.shape[0] - start >= rate // 10:
            w.strip.set_audio(x[start:], rate, offset=start / rate)
            w.strip.set_cursor(x.shape[0] / rate)

    # -- stopping ----------------------------------------------------------------------------

    def stop(self, wait: bool = False) -> None:
        """Stop listening; the last frames are computed, then the recording is saved (before
        returning, with ``wait``: another utterance is about to take the window)."""
        if not self.listening:
            return
        self.action.setEnabled(False)
        feed = self.feed
        feed.stop_listening(wait=10.0 if wait else 0.0)
        deadline = time.monotonic() + 10.0
        while wait and self._ended_for is not feed and time.monotonic() < deadline:
            QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ExcludeUserInputEvents, 20)

    def _ended(self, error) -> None:
        """Listening has stopped (``error``: the microphone failed): save what was heard and
        keep the live utterance on screen."""
        w, feed = self.w, self.feed
        self._ended_for = feed
        self._timer.stop()
        self.action.setEnabled(True)
        self.action.setChecked(False)
        self.action.setText("\u25c9 Live")
        w.record_action.setEnabled(True)
        w.record_indicator.stop()
        samples = self.frames.samples().copy()
        rate = self.frames.rate
        audio = Audio(samples, rate, "live", as_on_disk=False)
        kept = ""
        if audio.duration >= MIN_SECONDS:
            try:
                self.saved = save_recording(audio, w.recording.directory or recordings_dir())
                kept = f"saved as {self.saved}"
            except DeepbrainError as e:
                w.show_error("Cannot save the live recording", e)
        if w.feed is feed:
            w.wav = self.saved
            w.show_frames(feed, audio, name=self.saved.name if self.saved else "live")
            w.show_frame(feed.num_frames - 1)          # where the voice stopped
            self.recompute.setVisible(True)
            self.recompute.setEnabled(self.saved is not None)
        if error is not None:
            heard = f"the {audio.duration:.1f} s heard before it are " + \
                (kept if kept else f"not kept (less than {MIN_SECONDS} s)")
            w.show_error("The microphone failed", f"{error}; {heard}")
        else:
            w._say(f"live: {audio.duration:.1f} s, {feed.num_frames} frames; "
                   + (kept or f"too short to keep (less than {MIN_SECONDS} s)"))

    def recompute_offline(self) -> None:
        if self.saved is not None:
            self.w.load_wav(self.saved)

    def _shown(self) -> None:
        """Another utterance took the window: the live one and its notice are gone."""
        if self.feed is not None and self.w.feed is not self.feed:
            self.feed, self.frames = None, None
            self.bar.hide()

    def close(self) -> None:
        """The window closes: stop listening without saving (as a recording is dropped)."""
        self._timer.stop()
        if self.feed is not None and self.feed.listening:
            self.feed.shutdown()
