"""The insight panels wired to the window: phone lanes, regions and their scores, the unit
inspector, the selectivity picture, exports, and the menus that show and hide them.

Each panel is a room of one concern; this module only passes the window's state to them
(the model, the utterance, the frame) and their intents back (seek, pin, align). The main
window knows of it through five calls: a new model/utterance, frames computed, the frame
drawn, and whether the maps are coloured by phone.

The heard lane, the region scores and the pinned units' traces are gathered from the frames
as they are computed (:mod:`deepbrain.framesummary`): all at once for an utterance computed
whole, chunk by chunk (redrawn a few times a second) for a long or live one, whose traces
then show a window of frames around the playhead.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtWidgets

from ..colouring import NATURAL_RANGES
from ..errors import DeepbrainError
from ..framesummary import PerFrame, as_scores, chunk_scores, heard_ids, lane_from_ids
from ..maps.units import UnitTable
from ..phonelanes import PhoneLane, aligner_unavailable, lane_from_file, lane_from_text
from ..regions import load_unit_tables
from ..segments import PhoneSegment
from .exporter import Exporter
from .inspector import InspectorPanel, describe
from .phonelane import PhonePanel
from .regionlayer import RegionOverlay
from .scoretrace import ScoreTraces
from .selectivity import SelectivityPanel

TRACE_FRAMES = 2000   # a long or live utterance's traces: 20 s around the playhead
REFRESH_MS = 250      # how often they are redrawn while frames are computed


class Background(QtCore.QObject):
    """Runs one call in a Python thread; ``done(result)`` or ``failed(error)`` arrive in the
    UI thread."""

    done = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object)

    def start(self, fn) -> None:
        def run():
            try:
                result = fn()
            except Exception as e:  # noqa: BLE001 - shown to the user, never lost
                signal, value = self.failed, e
            else:
                signal, value = self.done, result
            try:
                signal.emit(value)
            except RuntimeError:    # the window was closed meanwhile: no one to tell
                pass
        threading.Thread(target=run, name="deepbrain: align", daemon=True).start()


class Insight(QtCore.QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.model = None
        self.tables: dict[int, UnitTable] = {}
        self.said: PhoneLane | None = None
        self.hears: PhoneLane | None = None
        self.phones_file: Path | None = None
        self.pending_text: str | None = None
        self.regions = RegionOverlay(window.view)
        self.traces = ScoreTraces(window.view)
        self.exporter = Exporter(window)
        self.panel = PhonePanel(window.strip.wave)
        self.inspector = InspectorPanel()
        self.selectivity = SelectivityPanel()
        self._aligning: Background | None = None
        self.strict = False     # headless: errors are kept for raise_errors(), not shown
        self.errors: list[DeepbrainError] = []
        self.heard: PerFrame | None = None          # the top output phone of each frame
        self.score_series: dict[int, PerFrame] = {}
        self._score_by = ("", None)                 # (lane name, PhoneLane) scored
        self.span = (0, 0)                          # the frames the traces show
        self._refresh_timer = QtCore.QTimer(self, singleShot=True, interval=REFRESH_MS,
                                            timeout=self._refresh)
        self.inspector.computed = self._computed_chunks
        self._build()
        v = window.view
        v.layers_set.connect(self._layers_shown)
        v.unit_hovered.connect(self._hovered)
        v.unit_clicked.connect(self.pin)
        v.painters.append(self._paint_pins)
        self.panel.lanes.seek.connect(window.seek_time)
        self.panel.bar.align.connect(self.align_text)
        self.panel.bar.open_phones.connect(self._open_phones_dialog)
        self.inspector.changed.connect(v.update)
        window.result_shown.connect(self._utterance_shown)
        window.frame_shown.connect(self._frame_shown)
        window.frames_computed.connect(self._frames_computed)

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        w = self.w
        central = w.centralWidget().layout()
        central.addWidget(self.panel, 3, 0)       # under the waveform, over the transport
        central.addWidget(w.transport, 4, 0)
        self.units_dock = self._dock("Units", self.inspector)
        self.psi_dock = self._dock("Selectivity", self.selectivity)
        w.tabifyDockWidget(self.units_dock, self.psi_dock)
        self.units_dock.raise_()
        for d in (self.units_dock, self.psi_dock):
            d.hide()

        bar = w.addToolBar("insight")
        bar.setMovable(False)
        self.regions_action = bar.addAction("Regions", self.set_regions)
        self.regions_action.setCheckable(True)
        self.regions_action.setToolTip("outline and label each phone's region on the maps, "
                                       "light the one being spoken, and trace each layer's "
                                       "region score under its map")
        self.by_phone_action = bar.addAction("By phone", self.set_by_phone)
        self.by_phone_action.setCheckable(True)
        self.by_phone_action.setToolTip("colour each unit by its preferred phone (with a "
                                        "legend) instead of its activation")

        menu = w.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction("Open model\u2026", w.open_model_dialog)
        file_menu.addAction("Open wav\u2026", w.open_wav_dialog)
        file_menu.addAction("Open phones\u2026", self._open_phones_dialog)
        file_menu.addSeparator()
        file_menu.addAction("Save picture (PNG)\u2026", self.exporter.png_dialog)
        file_menu.addAction("Save video (MP4)\u2026", self.exporter.video_dialog)
        file_menu.addAction("Save activations (.npz)\u2026", self.exporter.npz_dialog)
        view = menu.addMenu("&View")
        view.addAction(self.regions_action)
        view.addAction(self.by_phone_action)
        view.addSeparator()
        for name, widget in (("Waveform and spectrogram", w.strip),
                             ("Phone lanes", self.panel), ("Transport", w.transport)):
            a = view.addAction(name)
            a.setCheckable(True)
            a.setChecked(True)
            a.toggled.connect(widget.setVisible)
        view.addAction(self.units_dock.toggleViewAction())
        view.addAction(self.psi_dock.toggleViewAction())

    def _dock(self, title: str, widget) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self.w)
        dock.setObjectName(title)
        dock.setWidget(widget)
        widget.setMinimumWidth(330)
        dock.setAllowedAreas(QtCore.Qt.LeftDockWidgetArea | QtCore.Qt.RightDockWidgetArea)
        self.w.addDockWidget(QtCore.Qt.RightDockWidgetArea, dock)
        return dock

    # -- errors ------------------------------------------------------------------------------

    def _report(self, title: str, error: DeepbrainError) -> None:
        """A dialog; when strict (headless), kept for :meth:`raise_errors` instead: slots
        must not raise (PyQt aborts the process)."""
        if self.strict:
            self.errors.append(error)
        else:
            self.w.show_error(title, error)

    def raise_errors(self) -> None:
        if self.errors:
            error, self.errors = self.errors[0], []
            raise error

    # -- the model ---------------------------------------------------------------------------

    def _ensure_model(self) -> None:
        model = self.w.model
        if model is self.model:
            return
        self.model = model
        self.inspector.clear()
        tables: dict[int, UnitTable] = {}
        if model is not None:
            try:
                tables = load_unit_tables(model)
            except DeepbrainError as e:
                self._report("Cannot read the maps' unit tables", e)
        self.set_unit_tables(tables)
        self.selectivity.set_model(model.path if model is not None else None,
                                   sorted(model.maps) if model is not None else [])

    def set_unit_tables(self, tables: dict[int, UnitTable]) -> None:
        """What build-map found per layer (``load_unit_tables``; a benchmark may give its
        own)."""
        self.tables = tables
        self.regions.set_tables(self.w.model.maps if self.w.model else {}, tables)
        for a in (self.regions_action, self.by_phone_action):
            a.setEnabled(bool(tables))
            a.setToolTip(a.toolTip().split("\n")[0] + ("" if tables else
                         "\n(this model's maps have no units.csv: build them with "
                         "deepbrain build-map)"))
        self.regions.set_shown(self.regions_action.isChecked())
        self.regions.set_by_phone(self.by_phone_action.isChecked())

    def _layers_shown(self) -> None:
        self._ensure_model()
        self.regions.layers_shown()
        self._apply_colours()
        if self.w.feed is None and (self.said or self.hears):   # the utterance has gone
            self.said = self.hears = None
            self.panel.lanes.set_lane("said", None)
            self.panel.lanes.set_lane("hears", None)
            self.traces.set_scores({}, "")

    # -- toggles -----------------------------------------------------------------------------

    def set_regions(self, on: bool | None = None) -> None:
        on = self.regions_action.isChecked() if on is None else on
        if on and not self.tables and self.model is not None:
            how = ("regions need maps built with phone labels, which are for nnet1 models "
                   "only, not nnet3 yet" if self.model.kind == "nnet3" else
                   "build the maps with deepbrain build-map --labels")
            self._report("Regions", DeepbrainError(
                f"{self.model.path / 'lda'}: no units.csv, so no regions; {how}"))
            on = False
        self.regions_action.setChecked(on)
        self.regions.set_shown(on)
        self.traces.set_shown(on)
        if on and self.w.feed is not None and not self.w.feed.held:
            self._update_scores()      # the frames computed while the regions were off

    def set_by_phone(self, on: bool | None = None) -> None:
        on = self.by_phone_action.isChecked() if on is None else on
        if on and not self.tables and self.model is not None:
            self._report("By phone", DeepbrainError(
                f"{self.model.path / 'lda'}: no units.csv, so no preferred phones; build the "
                f"maps with deepbrain build-map"))
            on = False
        self.by_phone_action.setChecked(on and bool(self.tables))
        self.regions.set_by_phone(on)
        if not self.regions.by_phone:
            self.w.show_frame(self.w.frame)   # activation colours again
        self._apply_colours()

    @property
    def by_phone(self) -> bool:
        return self.regions.by_phone

    def _apply_colours(self) -> None:
        if self.regions.by_phone:
            for k, rgba in self.regions.phone_colours().items():
                self.w.view.set_colours(k, rgba)
            self.w.view.update()

    # -- the utterance -----------------------------------------------------------------------

    def _utterance_shown(self) -> None:
        self._ensure_model()
        w = self.w
        feed = w.feed
        n = feed.num_frames
        phones = w.model.phones
        self.panel.lanes.frame_shift = w.model.frame_shift
        out = feed.cache.output_dim
        self.heard = PerFrame(n, np.int16, -1) if out and phones is not None and \
            out == len(phones) else None
        self.panel.lanes.show_lanes(("said",) if w.model.kind == "nnet3" else
                                    ("said", "hears"))   # a chain model hears pdfs
        self.hears_hint = ("the model has no phones.txt" if phones is None else
                           "the model's outputs are not the phones of its phones.txt")
        self.score_series, self._score_by = {}, ("", None)
        self.span = (0, n) if feed.held else self._span_at(w.frame, n)
        for chunk in feed.chunks():
            self._absorb(chunk)
        self._show_heard()
        self.said = None
        if self.pending_text:                 # --text: for the first utterance only
            text, self.pending_text = self.pending_text, None
            self.align_text(text, wait=True)
        elif self.phones_file is not None:
            try:
                lane = lane_from_file(self.phones_file, feed.source.utt_id, n,
                                      w.model.frame_shift, self._model_phones())
                self._set_said(lane, lane.source)
            except DeepbrainError as e:
                self._report("Cannot read the phones", e)
        if self.said is None:
            self._set_said(None, "")
        self.inspector.set_utterance(n, w.model.frame_shift, self.span)

    def _computed_chunks(self):
        return self.w.feed.chunks() if self.w.feed is not None else ()

    def _frames_computed(self, chunk) -> None:
        """Frames of a long or live utterance: gathered now, drawn soon."""
        if self.w.feed is None or self.w.feed.held:
            return
        self._absorb(chunk)
        self.inspector.add_chunk(chunk)
        if self.score_series and self.traces.shown:   # else scored when regions go on
            self._score(chunk)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _absorb(self, chunk) -> None:
        if self.heard is not None:
            ids = heard_ids(chunk.output, self.w.model.phones)
            if ids is not None:
                self.heard.put(chunk.start, ids)

    def _show_heard(self) -> None:
        self.hears = lane_from_ids(self.heard.values, self.w.model.phones) \
            if self.heard is not None else None
        self.panel.lanes.set_lane("hears", self.hears, self.hears_hint)

    def _refresh(self) -> None:
        if self.w.feed is None:
            return
        self._show_heard()
        self.inspector.refresh()
        if self.score_series:
            self._show_scores()

    def _model_phones(self) -> Path | None:
        p = self.w.model.path / "phones.txt"
        return p if p.is_file() else None

    def _set_said(self, lane: PhoneLane | None, source: str) -> None:
        self.said = lane
        self.panel.lanes.set_lane("said", lane)
        self.panel.bar.set_source(source)
        self._update_scores()
        self._frame_shown(self.w.frame)

    def set_said(self, lane: PhoneLane | None) -> None:
        """Show ``lane`` as what is said (a benchmark or a script may give one)."""
        self._set_said(lane, lane.source if lane else "")

    def load_phones(self, path: str | Path) -> None:
        """Use a phones file (CTM, ark, scp) for this and later utterances."""
        self.phones_file = Path(path)
        if self.w.feed is not None:
            feed = self.w.feed
            try:
                lane = lane_from_file(self.phones_file, feed.source.utt_id, feed.num_frames,
                                      self.w.model.frame_shift, self._model_phones())
            except DeepbrainError as e:
                self._report("Cannot read the phones", e)
                return
            self._set_said(lane, lane.source)

    def _open_phones_dialog(self) -> None:
        start = str(self.w.settings.value("phones_dir", "") or Path.home())
        f, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.w, "Open phones", start, "Phones (*.ctm *.ark *.scp *.txt);;All files (*)")
        if f:
            self.w._remember("phones_dir", str(Path(f).parent))
            self.load_phones(f)

    def align_text(self, text: str, wait: bool = False) -> None:
        """Align ``text`` to the utterance (in a thread, unless ``wait``)."""
        w = self.w
        if w.feed is None:
            self.pending_text = text
            return
        if w.acts is None:
            minutes = w.utterance_audio.duration / 60 if w.utterance_audio else 0.0
            self._report("Cannot align the transcript", DeepbrainError(
                f"{w.wav.name if w.wav else 'this utterance'}: a transcript is aligned to an "
                f"utterance held whole, and this one ({minutes:.1f} min) is computed around "
                f"the playhead; cut it into utterances, or give its phones as a CTM (Open "
                f"phones\u2026)"))
            return
        reason = aligner_unavailable()
        if reason:
            self._report("Cannot align the transcript", DeepbrainError(f"--text: {reason}"))
            return
        audio, utt, n = w.utterance_audio, w.acts.utt_id, w.acts.num_frames

        def job():
            return lane_from_text(audio, text, utt, n)
        if wait:
            try:
                lane = job()
            except DeepbrainError as e:
                self._report("Cannot align the transcript", e)
                return
            self._set_said(lane, lane.source)
            return
        self.panel.bar.set_busy(True)
        self.panel.bar.set_source("aligning\u2026")
        acts = w.acts
        runner = Background(self)
        self._aligning = runner
        runner.done.connect(lambda lane: self._aligned(runner, acts, lane))
        runner.failed.connect(lambda e: self._aligned(runner, acts, None, e))
        runner.start(job)

    def _aligned(self, runner, acts, lane, error=None) -> None:
        if runner is not self._aligning:
            return
        self._aligning = None
        self.panel.bar.set_busy(False)
        if self.w.acts is not acts:   # another utterance meanwhile
            return
        if error is not None:
            self.panel.bar.set_source("")
            if isinstance(error, DeepbrainError):
                self._report("Cannot align the transcript", error)
            else:
                self.w.show_error("Cannot align the transcript", error)
            return
        self._set_said(lane, lane.source)

    def _update_scores(self) -> None:
        """The region scores of the frames computed, by the said phones (else the heard)."""
        by = ("said", self.said) if self.said else ("heard", None)
        feed = self.w.feed
        if (by[1] is None and self.heard is None) or feed is None or not self.tables:
            self.score_series, self._score_by = {}, ("", None)
            self.traces.set_scores({}, "")
            return
        self._score_by = by
        self.score_series = {k: PerFrame(feed.num_frames, np.float64) for k in feed.dims
                             if k in self.tables}
        for chunk in feed.chunks():
            self._score(chunk)
        scores = self._show_scores()
        if feed.held:      # a long utterance's means change as frames are computed
            means = ", ".join(f"{k}: \u00d7{s.mean:.2f}" for k, s in scores.items())
            self.w._say(f"region score ({by[0]} phones), utterance mean per layer: {means}")

    def _score(self, chunk) -> None:
        m = self.w.model
        floors = {k: NATURAL_RANGES.get(m.layer_marker(k), (0.0,))[0]
                  for k in self.score_series}
        name, lane = self._score_by
        a = chunk.start
        if lane is not None:
            segments = lane.segments
        else:                                  # by the heard phones of these frames
            ids = self.heard.values[a:a + chunk.rows]
            segments = [PhoneSegment(s.phone, s.start + a, s.end + a) for s in
                        lane_from_ids(ids, m.phones).segments]
        layers = {k: v for k, v in chunk.layers.items() if k in self.score_series}
        for k, v in chunk_scores(layers, a, self.tables, segments, floors).items():
            self.score_series[k].put(a, v)

    def _show_scores(self):
        feed = self.w.feed
        scores = as_scores(self.score_series)
        self.traces.set_window(None if feed.held else self.span)
        self.traces.set_scores(scores, self._score_by[0], "utterance mean" if feed.held
                               else "mean so far")
        self.traces.set_shown(self.regions_action.isChecked())
        return scores

    @property
    def spoken(self) -> str | None:
        """The phone at the current frame: said if known, else heard."""
        lanes = self.panel.lanes
        return lanes.current("said") if self.said else lanes.current("hears")

    def _frame_shown(self, index: int) -> None:
        w = self.w
        if w.model is None:
            return
        t = index * w.model.frame_shift + w.model.mfcc.frame_length / 2000.0
        if w.feed is not None and not w.feed.held:
            self._follow(index)
        self.panel.lanes.set_cursor(index, t)
        self.regions.set_phone(self.spoken)
        self.traces.set_frame(index)
        self.inspector.set_time(t)

    def _span_at(self, index: int, n: int, at: float = 0.5) -> tuple[int, int]:
        """TRACE_FRAMES frames with ``index`` at ``at`` of the way (within 0 .. n, or on
        from 0 while a live utterance is shorter)."""
        a = max(0, min(index - int(TRACE_FRAMES * at), n - TRACE_FRAMES))
        return a, a + TRACE_FRAMES

    def _follow(self, index: int) -> None:
        """Keep the playhead in the middle of the traces' window: moved on (or back) when it
        nears an edge, so the traces are redrawn every few seconds, not every frame."""
        a, b = self.span
        edge = (b - a) // 10
        if a + edge <= index <= b - edge or (a == 0 and index < b - edge):
            return
        n = self.w.feed.num_frames
        self.span = self._span_at(index, n, 0.25 if index > b - edge else 0.75)
        self.inspector.set_window(self.span)
        if self.score_series:
            self.traces.set_window(self.span)

    # -- units -------------------------------------------------------------------------------

    def _hovered(self, layer: int, unit: int, pos) -> None:
        if unit < 0:
            QtWidgets.QToolTip.hideText()
            return
        QtWidgets.QToolTip.showText(pos, describe(self.tables.get(layer), layer, unit)
                                    + "\nclick to pin")

    def pin(self, layer: int, unit: int) -> None:
        self.inspector.pin(layer, unit, self.tables.get(layer))
        self.units_dock.show()
        self.units_dock.raise_()
        self.selectivity.show_layer(layer)

    def _paint_pins(self, painter) -> None:
        from PyQt5 import QtGui

        view = self.w.view
        for card in self.inspector.cards:
            k, u = card.pin.layer, card.pin.unit
            if k not in view.meshes:
                continue
            x, y = view._maps[k].vertices[u]
            p = view.map_to_pixel(k, x, y)
            painter.setPen(QtGui.QPen(QtGui.QColor(0, 0, 0), 4))
            painter.drawEllipse(p, 7, 7)
            painter.setPen(QtGui.QPen(QtGui.QColor(*card.colour), 2))
            painter.drawEllipse(p, 7, 7)

