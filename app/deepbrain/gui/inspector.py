"""The unit inspector: what a unit is (hover) and what it does (pinned).

Hovering a unit shows its layer, number, preferred phone and PSI in a tooltip; a click pins
it: a card with its activity pattern over the phones (bars grouped by manner of
articulation), its PSI and entropy, and its activation over the utterance with the
playhead. Several cards can be open to compare units; pinned units are ringed on the maps.

A pinned unit's activation is gathered from the frames as they are computed
(:class:`deepbrain.framesummary.PerFrame`); an utterance computed around the playhead shows
a window of frames around it, with gaps where frames are not computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from ..artefacts import Chunk
from ..framesummary import PerFrame
from ..maps.units import UnitTable
from ..phoneclasses import MANNER_COLOURS, by_manner, manner

MAX_PINNED = 6
TOP_LABELS = 3
SHORT = {"vowel": "vowels", "diphthong": "diph", "approximant": "appr", "nasal": "nas",
         "stop": "stops", "affricate": "aff", "fricative": "fric", "silence": "sil"}
PIN_COLOURS = ((255, 255, 255), (255, 214, 102), (110, 220, 255), (255, 120, 200),
               (160, 255, 140), (255, 160, 90))


def describe(table: UnitTable | None, layer: int, unit: int) -> str:
    """One line about a unit (0-based ``unit``; shown 1-based, as units.csv numbers them)."""
    if table is None:
        return f"layer {layer} \u00b7 unit {unit + 1} (no units.csv: build the map with " \
               f"deepbrain build-map)"
    psi = int(table.psi[unit])
    phone = table.phones[table.preferred[unit]]
    return (f"layer {layer} \u00b7 unit {unit + 1} \u00b7 prefers /{phone}/"
            f" \u00b7 PSI {psi if psi >= 0 else '?'} of {len(table.phones) - 1}"
            f" \u00b7 entropy {table.entropy[unit]:.2f} bits")


@dataclass(frozen=True)
class Pin:
    layer: int
    unit: int   # 0-based


class UnitCard(QtWidgets.QFrame):
    """One pinned unit. Emits ``closed``."""

    closed = QtCore.pyqtSignal()

    def __init__(self, pin: Pin, table: UnitTable | None, colour: tuple[int, int, int],
                 parent=None):
        super().__init__(parent)
        self.pin = pin
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        head = QtWidgets.QHBoxLayout()
        swatch = QtWidgets.QLabel("\u25cf")
        swatch.setStyleSheet(f"color: rgb{colour}; font-size: 16px")
        self.title = QtWidgets.QLabel(describe(table, pin.layer, pin.unit))
        self.title.setWordWrap(True)
        close = QtWidgets.QToolButton(text="\u00d7", autoRaise=True)
        close.setToolTip("unpin")
        close.clicked.connect(self.closed)
        head.addWidget(swatch)
        head.addWidget(self.title, 1)
        head.addWidget(close)
        box.addLayout(head)
        self.bars = pg.PlotWidget()
        self.bars.setFixedHeight(110)
        self.bars.setMouseEnabled(x=False, y=False)
        self.bars.setMenuEnabled(False)
        self.bars.hideButtons()
        self.bars.getPlotItem().setLabel("left", "pattern")
        box.addWidget(self.bars)
        self.trace = pg.PlotWidget()
        self.trace.setFixedHeight(80)
        self.trace.setMouseEnabled(x=False, y=False)
        self.trace.setMenuEnabled(False)
        self.trace.hideButtons()
        self.trace.getPlotItem().setLabel("left", "activation")
        self._curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1.2))
        self.trace.addItem(self._curve)
        self.playhead = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 255, 255)))
        self.trace.addItem(self.playhead)
        box.addWidget(self.trace)
        self._draw_pattern(table)

    def _draw_pattern(self, table: UnitTable | None) -> None:
        if table is None or table.patterns is None:
            self.bars.setVisible(False)
            return
        order = by_manner(table.phones)
        values = np.nan_to_num(table.patterns[self.pin.unit][order], nan=0.0)
        brushes = [pg.mkBrush(*MANNER_COLOURS[manner(table.phones[i])]) for i in order]
        best = int(np.argmax(values))
        pens = [pg.mkPen((255, 255, 255), width=2) if i == best else pg.mkPen(None)
                for i in range(len(order))]
        self.bars.addItem(pg.BarGraphItem(x=np.arange(len(order)), height=values, width=0.8,
                                          brushes=brushes, pens=pens))
        groups = []
        for i, p in enumerate(order):
            m = manner(table.phones[p])
            if not groups or groups[-1][0] != m:
                groups.append([m, i, i])
            groups[-1][2] = i
        axis = self.bars.getPlotItem().getAxis("bottom")
        axis.setTicks([[((a + b) / 2, SHORT.get(m, m)) for m, a, b in groups], []])
        axis.setStyle(tickFont=QtGui.QFont("", 7))
        named: list[int] = []
        for i in np.argsort(values)[::-1]:     # name the strongest phones, apart
            if len(named) == TOP_LABELS:
                break
            if any(abs(int(i) - j) < 3 for j in named):
                continue
            named.append(int(i))
            text = pg.TextItem(table.phones[order[i]], color=(235, 237, 242), anchor=(0.5, 1))
            text.setPos(float(i), float(values[i]))
            self.bars.addItem(text)
        self.bars.setYRange(0, 1.25, padding=0)
        self.bars.setXRange(-0.6, len(order) - 0.4, padding=0)
        self.bars.setToolTip("activity pattern: mean activation per phone, scaled to 0..1, "
                             "grouped by manner of articulation\n" + "\n".join(
                                 f"{m}: " + " ".join(table.phones[order[j]]
                                                     for j in range(a, b + 1))
                                 for m, a, b in groups))

    def set_activation(self, values: np.ndarray | None, frame_shift: float,
                       start: int = 0, frames: int | None = None) -> None:
        """``values`` of frames ``start ..`` (NaN: not computed) on an axis of ``frames``."""
        if values is None:
            self._curve.setData([], [])
            return
        t = (np.arange(values.shape[0]) + start + 0.5) * frame_shift
        self._curve.setData(t, values, connect="finite")
        n = values.shape[0] if frames is None else frames
        self.trace.setXRange(start * frame_shift, (start + n) * frame_shift, padding=0)

    def set_time(self, seconds: float) -> None:
        self.playhead.setValue(seconds)


class InspectorPanel(QtWidgets.QWidget):
    """The pinned units' cards, newest on top. Emits ``changed`` when pins come or go."""

    changed = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.hint = QtWidgets.QLabel("Click a unit on a map to pin it here; hover shows what "
                                     "it is.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #8c929c; padding: 6px")
        outer.addWidget(self.hint)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        holder = QtWidgets.QWidget()
        self._cards_box = QtWidgets.QVBoxLayout(holder)
        self._cards_box.setContentsMargins(2, 2, 2, 2)
        self._cards_box.addStretch(1)
        scroll.setWidget(holder)
        outer.addWidget(scroll, 1)
        self.cards: list[UnitCard] = []
        self._series: dict[Pin, PerFrame] = {}
        self._num_frames = 0
        self._window = (0, 0)
        self._frame_shift = 0.01
        self.computed: Callable[[], Iterable[Chunk]] = lambda: ()   # what is computed now

    @property
    def pins(self) -> list[Pin]:
        return [c.pin for c in self.cards]

    def pin(self, layer: int, unit: int, table: UnitTable | None) -> None:
        """Pin a unit (again: no change); beyond MAX_PINNED the oldest goes."""
        p = Pin(layer, unit)
        if p in self.pins:
            return
        if len(self.cards) >= MAX_PINNED:
            self.unpin(self.cards[-1])
        used = {c.colour for c in self.cards}
        colour = next((c for c in PIN_COLOURS if c not in used), PIN_COLOURS[0])
        card = UnitCard(p, table, colour)
        card.colour = colour
        card.closed.connect(lambda c=card: self.unpin(c))
        self.cards.insert(0, card)
        self._cards_box.insertWidget(0, card)
        self._gather(p)
        self._update_card(card)
        self.hint.setVisible(False)
        self.changed.emit()

    def unpin(self, card: UnitCard) -> None:
        self.cards.remove(card)
        self._series.pop(card.pin, None)
        card.setParent(None)
        card.deleteLater()
        self.hint.setVisible(not self.cards)
        self.changed.emit()

    def clear(self) -> None:
        for card in list(self.cards):
            self.unpin(card)

    def colour_of(self, pin: Pin) -> tuple[int, int, int]:
        card = next(c for c in self.cards if c.pin == pin)
        return card.colour

    def set_utterance(self, num_frames: int, frame_shift: float,
                      window: tuple[int, int]) -> None:
        """A new utterance of ``num_frames`` (0: none), its traces over frames ``window``;
        the pinned units' activations gathered from what is computed."""
        self._num_frames, self._frame_shift, self._window = num_frames, frame_shift, window
        self._series = {}
        for card in self.cards:
            self._gather(card.pin)
        self.refresh()

    def _gather(self, pin: Pin) -> None:
        series = PerFrame(self._num_frames)
        for chunk in self.computed():
            m = chunk.layers.get(pin.layer)
            if m is not None:
                series.put(chunk.start, m[:, pin.unit])
        self._series[pin] = series

    def add_chunk(self, chunk: Chunk) -> None:
        """Frames computed: the pinned units' values (drawn at the next :meth:`refresh`)."""
        for pin, series in self._series.items():
            m = chunk.layers.get(pin.layer)
            if m is not None:
                series.put(chunk.start, m[:, pin.unit])

    def set_window(self, window: tuple[int, int]) -> None:
        if window != self._window:
            self._window = window
            self.refresh()

    def refresh(self) -> None:
        for card in self.cards:
            self._update_card(card)

    def _update_card(self, card: UnitCard) -> None:
        series = self._series.get(card.pin)
        if series is None or not series.num_frames:
            card.set_activation(None, self._frame_shift)
            return
        a, b = self._window
        card.set_activation(series.values[a:b], self._frame_shift, a, b - a)

    def set_time(self, seconds: float) -> None:
        for card in self.cards:
            card.set_time(seconds)
