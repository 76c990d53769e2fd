"""The main window: open a model, open or record a wav, watch every layer frame by frame.

The frames on screen come from a :class:`~deepbrain.gui.frames.FrameFeed`: an utterance
computed whole, a long one computed around the playhead, or the microphone's (live mode,
:mod:`deepbrain.gui.livemode`). A frame not yet computed is drawn when it arrives.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Callable

from PyQt5 import QtCore, QtGui, QtWidgets

from ..audio import Audio
from ..colouring import ColourOptions, FrameColours
from ..errors import DeepbrainError
from ..longaudio import OpenedAudio, open_long
from ..model import Model, load_any_model
from ..overview import OverviewData
from ..pipeline import EngineChoice, select_engine, utterances_from_wavs
from ..playback import AudioSink, Playhead, default_sink, frame_at, frame_centre
from ..recording import AudioSource, PyAudioSource
from .controls import ColourControls, RecordIndicator
from .frames import FrameFeed
from .insight import Insight
from .livemode import LiveMode
from .mapview import LayerGridView
from .recordflow import RecordFlow
from .transport import Transport
from .waveform import AudioStrip
from .worker import Processor, compute_one, load_audio

log = logging.getLogger(__name__)

TICK_MS = 4           # how often the playhead is polled while playing
LATENCY_START = 0.015  # first guess of the time from choosing a frame to its swap (s)
LATENCY_MAX = 0.1


class MainWindow(QtWidgets.QMainWindow):
    """Everything a user does, wired to the Qt-free core. ``sink_factory`` and
    ``source_factory`` make the sound output and the microphone (injectable for tests)."""

    result_shown = QtCore.pyqtSignal()    # a new utterance is on screen
    frame_shown = QtCore.pyqtSignal(int)
    frames_computed = QtCore.pyqtSignal(object)   # a Chunk of the utterance on screen

    def __init__(self, settings: QtCore.QSettings | None = None,
                 sink_factory: Callable[[], tuple[AudioSink, str]] = default_sink,
                 source_factory: Callable[[], AudioSource] = PyAudioSource,
                 engine: str | EngineChoice = "auto", recordings: Path | None = None,
                 options: ColourOptions | None = None, remember: bool = True):
        super().__init__()
        self.setWindowTitle("deepbrain")
        self.settings = settings if settings is not None else QtCore.QSettings("deepbrain",
                                                                               "deepbrain")
        self.sink_factory = sink_factory
        self.engine_name = engine
        self.remember = remember     # keep the model, folders and options for the next run
        self.model: Model | None = None
        self.wav: Path | None = None
        self.acts = None                            # the utterance's, when held whole
        self.feed: FrameFeed | None = None          # its frames, whole or computed
        self.utterance_audio: Audio | None = None   # the samples the engines saw
        self.colours: FrameColours | None = None
        self.shown_layers: list[int] = []
        self.frame = 0
        self.playhead: Playhead | None = None
        self.sink: AudioSink | None = None
        self.error_box: QtWidgets.QMessageBox | None = None
        self.processor = Processor(self)
        self.recording = RecordFlow(source_factory, recordings, self)
        self._build(options or self._saved_options())
        self._connect()
        self.insight = Insight(self)   # phone lanes, regions, inspector, exports
        self.live = LiveMode(self)     # the microphone's frames as they come
        self._waiting: int | None = None    # a frame drawn when it has been computed
        self._play_timer = QtCore.QTimer(self, timerType=QtCore.Qt.PreciseTimer,
                                         interval=TICK_MS, timeout=self._tick)
        self._latency = LATENCY_START   # measured: choosing a frame -> on screen
        self._chosen_at: float | None = None
        self.view.frameSwapped.connect(self._swapped)
        self.resize(1280, 800)

    # -- building ----------------------------------------------------------------------------

    def _build(self, options: ColourOptions) -> None:
        bar = self.addToolBar("main")
        bar.setMovable(False)
        self.main_bar = bar
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonTextBesideIcon)
        style = self.style()
        self.open_model_action = bar.addAction(style.standardIcon(QtWidgets.QStyle.SP_DirIcon),
                                               "Open model\u2026", self.open_model_dialog)
        self.open_wav_action = bar.addAction(
            style.standardIcon(QtWidgets.QStyle.SP_DialogOpenButton), "Open wav\u2026",
            self.open_wav_dialog)
        self.record_action = bar.addAction("\u25cf Record", self.toggle_recording)
        self.record_action.setCheckable(True)
        self.record_indicator = RecordIndicator()
        self.record_indicator.action = bar.addWidget(self.record_indicator)
        self.record_indicator.stop()
        self.record_separator = bar.addSeparator()   # Live goes before it
        self.layers_button = QtWidgets.QToolButton(text="Layers",
                                                   popupMode=QtWidgets.QToolButton.InstantPopup)
        self.layers_menu = QtWidgets.QMenu(self.layers_button)
        self.layers_button.setMenu(self.layers_menu)
        bar.addWidget(self.layers_button)
        self.colour_controls = ColourControls(options)
        self.colour_controls.changed.connect(self._options_changed)
        bar.addWidget(self.colour_controls)

        self.view = LayerGridView()
        self.colour_bar = self.view.colour_bar
        self.strip = AudioStrip()
        self.strip.seek.connect(self.seek_time)
        self.transport = Transport()
        self.transport.play.connect(self.play)
        self.transport.pause.connect(self.pause)
        self.transport.stop.connect(self.stop)
        self.transport.seek.connect(self.show_frame)
        self.transport.speed_changed.connect(self.set_speed)
        self.transport.set_playing(False)

        central = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(central)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        grid.addWidget(self.view.container, 0, 0)
        grid.addWidget(self.strip, 1, 0)
        grid.addWidget(self.transport, 3, 0)   # row 2: the phone lanes (insight)
        grid.setRowStretch(0, 1)
        self.setCentralWidget(central)

        self.progress = QtWidgets.QProgressBar(maximumWidth=260, visible=False)
        self.cancel_button = QtWidgets.QPushButton("Cancel", visible=False)
        self.cancel_button.clicked.connect(self.cancel_processing)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._update_colour_bar()

        for keys, slot in (("Space", self.toggle_play), ("Right", lambda: self.step(1)),
                           ("Left", lambda: self.step(-1)), ("Shift+Right", lambda: self.step(10)),
                           ("Shift+Left", lambda: self.step(-10)),
                           ("Home", lambda: self.show_frame(0)),
                           ("End", lambda: self.show_frame(self._num_frames() - 1))):
            QtWidgets.QShortcut(QtGui.QKeySequence(keys), self, activated=slot)

    def _remember(self, key: str, value) -> None:
        if self.remember:
            self.settings.setValue(key, value)

    def _connect(self) -> None:
        p = self.processor
        p.started.connect(self._processing_started)
        p.progress.connect(self._progress)
        p.finished.connect(self._processed)
        p.failed.connect(lambda e: self._processing_failed(e))
        p.cancelled.connect(lambda: self._processing_done("cancelled"))
        r = self.recording
        r.running.connect(self._recording_running)
        r.level.connect(self.record_indicator.show_level)
        r.failed.connect(self.show_error)
        r.saved.connect(self._recorded)

    def _saved_options(self) -> ColourOptions:
        s = self.settings
        try:
            return ColourOptions(str(s.value("colour/map", "jet")),
                                 str(s.value("colour/scale", "frame")),
                                 float(s.value("colour/alpha", 0.5)))
        except (DeepbrainError, TypeError, ValueError):
            return ColourOptions()

    # -- messages ----------------------------------------------------------------------------

    def show_error(self, title: str, error: BaseException | str) -> None:
        """A dialog with the whole message (a Kaldi failure's includes its log); not modal to
        the application, so the window stays alive behind it."""
        message = str(error)
        if isinstance(error, BaseException) and not isinstance(error, DeepbrainError):
            message = f"{type(error).__name__}: {error}"
            log.error("%s", "".join(traceback.format_exception(error)))
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Critical, title,
                                    message.splitlines()[0] if message else title,
                                    QtWidgets.QMessageBox.Ok, self)
        if "\n" in message or len(message) > 300:
            box.setInformativeText(message[:300] + ("\u2026" if len(message) > 300 else ""))
            box.setDetailedText(message)
        box.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        self.error_box = box
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}")
        box.open()

    def _say(self, text: str) -> None:
        self.statusBar().showMessage(text)

    # -- the model ---------------------------------------------------------------------------

    def open_model_dialog(self) -> None:
        start = str(self.settings.value("model", "") or Path.home())
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a model directory", start)
        if d:
            self.load_model(d)

    def load_model(self, directory: str | Path, remember: bool = True) -> bool:
        try:
            model = load_any_model(directory)
            if not model.maps:
                how = " --unlabelled" if model.kind == "nnet3" else ""
                raise DeepbrainError(f"{model.path}: has no maps (lda/K/vertices and "
                                     f"lda/K/indices), so there is nothing to draw; make "
                                     f"them with deepbrain build-map{how}")
        except DeepbrainError as e:
            self.show_error("Cannot open the model", e)
            return False
        if remember:
            self._remember("model", str(Path(directory).absolute()))
        self.set_model(model, reprocess=True)
        return True

    def set_model(self, model: Model, reprocess: bool = False) -> None:
        """Use ``model`` (it must have maps); with ``reprocess``, run the open wav again."""
        self.live.stop(wait=True)      # a live recording is saved before it goes
        self.cancel_processing()
        self._clear_utterance()
        self.model = model
        self.view.placeholder = "Open a wav (or record) to see the layers"
        mapped = sorted(model.maps)
        default = [k for k in model.default_layers if k in model.maps] or mapped
        self._fill_layers_menu(mapped, default)
        self.setWindowTitle(f"deepbrain \u2014 {model.path.name}")
        self._say(f"model {model.path}: {model.num_hidden} hidden layers, maps for "
                  f"{', '.join(map(str, mapped))}")
        if reprocess and self.wav is not None:
            self.load_wav(self.wav)

    def _fill_layers_menu(self, mapped: list[int], shown: list[int]) -> None:
        self.layers_menu.clear()
        self.shown_layers = list(shown)
        for k in mapped:
            a = self.layers_menu.addAction(self._title(k))
            a.setCheckable(True)
            a.setChecked(k in shown)
            a.setData(k)
            a.toggled.connect(self._layers_changed)

    def _title(self, k: int) -> str:
        return self.model.layer_title(k)   # nnet3: the node name, e.g. tdnnf5.relu

    def set_shown_layers(self, layers: list[int]) -> None:
        for a in self.layers_menu.actions():
            a.blockSignals(True)
            a.setChecked(a.data() in layers)
            a.blockSignals(False)
        self._layers_changed()

    def _layers_changed(self) -> None:
        self.shown_layers = [a.data() for a in self.layers_menu.actions() if a.isChecked()]
        self._rebuild_view()

    # -- the utterance -----------------------------------------------------------------------

    def open_wav_dialog(self) -> None:
        start = str(self.settings.value("wav_dir", "") or Path.home())
        f, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a wav", start,
                                                     "Wave audio (*.wav *.WAV);;All files (*)")
        if f:
            self.load_wav(f)

    def _engine(self) -> EngineChoice:
        e = self.engine_name
        return e if isinstance(e, EngineChoice) else select_engine(e)

    def load_wav(self, path: str | Path) -> None:
        """Compute the wav's activations in a worker thread, then show them."""
        path = Path(path)
        if self.model is None:
            self.show_error("No model", "open a model directory first (Open model\u2026)")
            return
        self._remember("wav_dir", str(path.absolute().parent))
        self.live.stop(wait=True)
        self.wav = path
        try:
            engine = self._engine()
        except DeepbrainError as e:
            self.show_error("No engine", e)
            return
        self.processor.start(self.model, path, engine)

    def process_now(self, path: str | Path) -> None:
        """Compute in this thread and show (for --screenshot); errors are raised."""
        if self.model is None:
            raise DeepbrainError("no model: pass --model DIR")
        self.wav = Path(path)
        p = self.processor
        layers = tuple(sorted(self.model.maps))
        p.check_whole(self.model, self.wav)
        if p.is_long(self.model, self.wav):
            opened, frames = open_long(self.model, self.wav, layers, p.wants_output(self.model))
            self._show_long(opened, frames)
            self.feed.sync = True
            return
        acts = compute_one(self.model, self.wav, layers, self._engine())
        self._show_result(acts, load_audio(self.model, self.wav))

    @property
    def processing(self) -> bool:
        return self.processor.busy

    def cancel_processing(self) -> None:
        self.processor.cancel()

    def _processing_started(self, stages: int, engine: str) -> None:
        self.progress.setRange(0, stages)
        self.progress.setValue(0)
        self.progress.setFormat("starting")
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self._say(f"{self.wav.name}: {engine}")

    def _progress(self, text: str, done: int, count: int) -> None:
        self.progress.setValue(done)
        self.progress.setFormat(text)

    def _processing_done(self, message: str) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if message:
            self._say(message)

    def _processed(self, result) -> None:
        self._processing_done("")
        try:
            if isinstance(result[0], OpenedAudio):
                self._show_long(*result)
            else:
                self._show_result(*result)
        except DeepbrainError as e:
            self.show_error("Cannot show the activations", e)

    def _processing_failed(self, error: Exception) -> None:
        self._processing_done("")
        self.show_error(f"Processing {self.wav.name if self.wav else ''} failed", error)

    def show_activations(self, acts, wav: str | Path) -> None:
        """Show activations computed elsewhere (they must be ``wav``'s, for this model)."""
        self.cancel_processing()
        self.wav = Path(wav)
        self._show_result(acts, load_audio(self.model, self.wav))

    def show_saved(self, directory: str | Path, wav: str | Path) -> None:
        """Show ``wav`` with the activations saved in ``directory`` (its layerK.scp, from
        deepbrain activations or getact.sh; the utterance id is the wav's name): nothing is
        recomputed. Errors are raised."""
        from ..longaudio import read_pieces
        from ..phonelanes import outputs_are_phones
        from ..savedacts import SavedFrames, read_saved_activations

        if self.model is None:
            raise DeepbrainError("no model: pass --model DIR")
        self.cancel_processing()
        utt = utterances_from_wavs([wav])[0].utt_id
        output = outputs_are_phones(self.model)
        if self.processor.is_long(self.model, Path(wav)):    # rows read as they are needed
            opened, _ = read_pieces(self.model, wav, features=False)
            frames = SavedFrames(directory, utt, self.model,
                                 self.model.mfcc.num_frames(opened.samples.shape[0]), output)
            self.wav = Path(wav)
            self._show_long(opened, frames)
            return
        audio = load_audio(self.model, Path(wav))
        acts = read_saved_activations(directory, utt, self.model,
                                      self.model.mfcc.num_frames(audio.samples.shape[0]),
                                      output=output)
        self.wav = Path(wav)
        self._show_result(acts, audio)

    def _show_result(self, acts, audio: Audio) -> None:
        self.show_frames(FrameFeed.holding(acts, self), audio, acts=acts)

    def _show_long(self, opened: OpenedAudio, frames) -> None:
        self.show_frames(FrameFeed(frames, parent=self), opened.audio(), opened.overview)

    def show_frames(self, feed: FrameFeed, audio: Audio, overview: OverviewData | None = None,
                    acts=None, name: str | None = None) -> None:
        """Show the utterance ``feed`` gives (``acts``: the same, held whole) with its sound;
        the window owns the feed from now on."""
        model = self.model
        again = feed is self.feed            # live: the same frames, now with their sound
        self._clear_utterance(keep=feed)
        self.acts, self.feed = acts, feed
        if not again:
            feed.arrived.connect(self._arrived)
            feed.failed.connect(self._feed_failed)
        self.utterance_audio = audio
        if overview is not None:
            self.strip.set_overview(overview)
        elif audio.samples.shape[0]:
            self.strip.set_audio(audio.samples, audio.sample_rate)
        if not feed.listening:
            self.playhead = Playhead(audio.samples, audio.sample_rate, model.frame_shift,
                                     model.mfcc.frame_length / 1000.0, feed.num_frames,
                                     self._sink)
            self.playhead.set_speed(float(self.transport.speed_box.currentData()))
        self.transport.set_frames(feed.num_frames)
        self._rebuild_colours()
        self._rebuild_view()
        name = name or (self.wav.name if self.wav else feed.source.utt_id)
        self._say(f"{name}: {feed.num_frames} frames ({audio.duration:.2f} s), "
                  f"engine {feed.source.engine}")
        self.result_shown.emit()

    def _feed_failed(self, error) -> None:
        if self._waiting is not None:
            self.view.note = self.view.note.replace("computing\u2026", "not computed")
            self.view.update()
            self._waiting = None
        self.show_error("Cannot compute the frames", error)

    def _arrived(self, chunk) -> None:
        """Frames computed: wider colour ranges, the panels, a frame waiting for them."""
        if self.colours is not None and self.colours.widen(self.feed.cache.ranges):
            self._update_colour_bar()
        self.frames_computed.emit(chunk)
        w = self._waiting
        if w is not None and chunk.start <= w < chunk.start + chunk.rows:
            self._draw(w)

    def _sink(self) -> AudioSink:
        if self.sink is None:
            self.sink, note = self.sink_factory()
            self._say(note)
        return self.sink

    def _clear_utterance(self, keep: FrameFeed | None = None) -> None:
        if self.playhead is not None:
            self.playhead.stop()
        self._play_timer.stop()
        if self.feed is not None and self.feed is not keep:
            self.feed.arrived.disconnect(self._arrived)
            self.feed.failed.disconnect(self._feed_failed)
            self.feed.shutdown()
            self.feed.deleteLater()
        self.playhead, self.acts, self.colours, self.feed = None, None, None, None
        self.utterance_audio = None
        self._waiting = None
        self.frame = 0
        self.transport.set_frames(0)
        self.transport.set_playing(False)
        self.strip.clear()
        self._rebuild_view()

    # -- colours and the view ----------------------------------------------------------------

    def _options_changed(self, options: ColourOptions) -> None:
        self._remember("colour/map", options.colormap)
        self._remember("colour/scale", options.scale)
        self._remember("colour/alpha", options.alpha)
        self._update_colour_bar()
        self._rebuild_colours()
        if self.colours is not None:
            self.show_frame(self.frame)

    def _update_colour_bar(self) -> None:
        o = self.colour_controls.options()
        if o.scale == "frame":
            self.colour_bar.set_scale(o.colormap, "max", "min", "relative to each frame")
        else:
            lo, hi = (0.0, 1.0)
            if self.colours is not None and self.shown_layers:
                ranges = {self.colours.value_range(k) for k in self.shown_layers}
                lo, hi = ranges.pop() if len(ranges) == 1 else (lo, hi)
            self.colour_bar.set_scale(o.colormap, f"{hi:g}", f"{lo:g}", "activation")

    def _rebuild_colours(self) -> None:
        if self.feed is None:
            self.colours = None
            return
        m = self.model
        units = {k: d for k, d in self.feed.dims.items() if k in m.maps}
        markers = {k: m.layer_marker(k) for k in units}
        self.colours = FrameColours.for_units(m.maps, units, self.feed.num_frames,
                                              self.colour_controls.options(), markers,
                                              self.feed.cache.ranges)
        self._update_colour_bar()

    def _rebuild_view(self) -> None:
        if self.model is None or self.colours is None:
            self.view.set_layers({}, [], {})
            return
        layers = [k for k in self.shown_layers if k in self.colours.units]
        self.view.set_layers(self.model.maps, layers, {k: self._title(k) for k in layers})
        self._update_colour_bar()
        self.show_frame(self.frame)

    def _num_frames(self) -> int:
        return self.feed.num_frames if self.feed is not None and self.colours is not None else 0

    def show_frame(self, index: int) -> None:
        """Show frame ``index`` (clamped); while playing, seek the sound there too."""
        n = self._num_frames()
        if n == 0:
            return
        index = min(max(int(index), 0), n - 1)
        if self.playhead is not None:
            self.playhead.seek(index)  # while playing, the sound jumps there too
        self._draw(index)

    def _draw(self, index: int) -> None:
        self.frame = index
        rows = self.feed.rows(index)
        self.feed.want(index)
        self._waiting = None if rows is not None else index
        if rows is not None and not self.insight.by_phone:   # by phone: set by the insight
            colours = self.colours.colour_rows(rows)
            for k in self.view.meshes:
                self.view.set_colours(k, colours[k])
        t = frame_centre(index, self.model.frame_shift, self.model.mfcc.frame_length / 1000.0)
        if self.playhead is not None and self.playhead.playing:
            t = self.playhead.time()
        self.view.note = (f"{self.feed.source.utt_id}  \u00b7  frame {index} / "
                          f"{self._num_frames() - 1}  \u00b7  {t:.3f} s"
                          + ("" if rows is not None else "  \u00b7  computing\u2026"))
        self.view.update()
        self.transport.show_frame(index, t)
        self.strip.set_cursor(t)
        self.frame_shown.emit(index)

    def step(self, delta: int) -> None:
        if self.playhead is not None and self.playhead.playing:
            self.pause()
        self.show_frame(self.frame + delta)

    def seek_time(self, seconds: float) -> None:
        if self.model is None or self.colours is None:
            return
        self.show_frame(frame_at(seconds, self.model.frame_shift,
                                 self.model.mfcc.frame_length / 1000.0, self._num_frames()))

    # -- playing -----------------------------------------------------------------------------

    def play(self) -> None:
        if self.playhead is None:
            return
        try:
            self.playhead.play()
        except DeepbrainError as e:
            self.show_error("Cannot play the sound", e)
            return
        self.transport.set_playing(True)
        self._play_timer.start()

    def pause(self) -> None:
        if self.playhead is not None:
            self.playhead.pause()
            self._tick()

    def stop(self) -> None:
        if self.playhead is not None:
            self.playhead.stop()
            self._tick()
            self._draw(0)

    def toggle_play(self) -> None:
        if self.playhead is not None and self.playhead.playing:
            self.pause()
        else:
            self.play()

    def set_speed(self, speed: float) -> None:
        if self.playhead is not None:
            self.playhead.set_speed(speed)

    def _tick(self) -> None:
        """The frame under the audio clock, drawn if it is not the one on screen."""
        ph = self.playhead
        if ph is None:
            self._play_timer.stop()
            return
        f = ph.frame(lookahead=self._latency)
        if f != self.frame or not ph.playing:
            self._chosen_at = time.perf_counter()
            self._draw(f)
        if not ph.playing:
            self._play_timer.stop()
            self.transport.set_playing(False)

    def _swapped(self) -> None:
        """Learn how long a frame takes to reach the screen (a moving average)."""
        if self._chosen_at is not None:
            took = time.perf_counter() - self._chosen_at
            self._chosen_at = None
            self._latency = min(0.8 * self._latency + 0.2 * took, LATENCY_MAX)

    # -- recording ---------------------------------------------------------------------------

    def toggle_recording(self) -> None:
        if self.recording.recording:
            self.recording.stop()
            return
        self.record_action.setChecked(False)
        if self.model is None:
            self.show_error("No model", "open a model directory first (Open model\u2026)")
            return
        self.pause()
        self.recording.start(self.model.sample_rate)

    def _recording_running(self, running: bool) -> None:
        self.record_action.setChecked(running)
        self.record_action.setText("\u25a0 Stop recording" if running else "\u25cf Record")
        if running:
            self.record_indicator.start()
            self._say("recording\u2026 press Stop recording when done")
        else:
            self.record_indicator.stop()

    def _recorded(self, path: Path) -> None:
        self._say(f"recorded to {path}")
        self.load_wav(path)

    # -- pictures and closing ----------------------------------------------------------------

    def render_image(self) -> QtGui.QImage:
        """The window as shown, with the GL maps (a native child window) painted in."""
        pixmap = self.grab()
        gl_image = self.view.grabFramebuffer()
        painter = QtGui.QPainter(pixmap)
        pos = self.view.container.mapTo(self, QtCore.QPoint(0, 0))
        painter.drawImage(QtCore.QRect(pos, self.view.container.size()), gl_image)
        painter.end()
        return pixmap.toImage()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._play_timer.stop()
        self.recording.stop(save=False)
        self.live.close()
        self.processor.shutdown()
        if self.feed is not None:
            self.feed.shutdown()
        if self.playhead is not None:
            self.playhead.stop()
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()
        super().closeEvent(event)
