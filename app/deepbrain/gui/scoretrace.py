"""The region score of each layer as a small trace under its map, with the playhead.

The traces are QPainter paths over the GL view, rebuilt only when the scores or the cells
change; a frame only moves the playhead mark and rewrites two numbers. An utterance computed
around the playhead shows a window of frames around it (:meth:`ScoreTraces.set_window`),
with gaps where frames are not computed.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt5 import QtCore, QtGui

from ..regions import RegionScore

TRACE = QtGui.QColor(255, 214, 102)
BASE = QtGui.QColor(140, 146, 156)
TEXT = QtGui.QColor(215, 219, 226)
MAX_POINTS = 600


def times(value: float) -> str:
    return f"\u00d7{value:.2f}" if np.isfinite(value) else "\u2013"


class ScoreTraces:
    """Draws :class:`~deepbrain.regions.RegionScore` s into the view's band under each map."""

    def __init__(self, view):
        self.view = view
        self.scores: dict[int, RegionScore] = {}
        self.source = ""
        self.mean_label = "utterance mean"
        self.window: tuple[int, int] | None = None     # frames shown; None: all
        self.frame = 0
        self.shown = False
        self.top = 2.0
        self._paths: dict[int, QtGui.QPainterPath] = {}
        view.static_painters.append(self._draw_static)
        view.painters.append(self._paint)
        view.layout_changed.connect(self._invalidate)

    def set_scores(self, scores: dict[int, RegionScore], source: str,
                   mean_label: str = "utterance mean") -> None:
        """Scores per layer (empty: none), which lane gave the phones, what their mean is."""
        self.scores, self.source, self.mean_label = scores, source, mean_label
        self._scale()
        self._apply()

    def set_window(self, window: tuple[int, int] | None) -> None:
        """Show frames ``a .. b`` (None: the whole utterance)."""
        if window != self.window:
            self.window = window
            self._scale()
            self._invalidate()

    def _range(self, score: RegionScore) -> tuple[int, int]:
        n = score.per_frame.shape[0]
        return (0, n) if self.window is None else self.window

    def _scale(self) -> None:
        finite = []
        for s in self.scores.values():
            a, b = self._range(s)
            y = s.per_frame[a:b]
            finite.append(y[np.isfinite(y)])
        values = np.concatenate(finite) if finite else np.zeros(0)
        self.top = max(2.0, float(np.percentile(values, 98)) if values.size else 2.0)

    def set_shown(self, shown: bool) -> None:
        self.shown = shown
        self._apply()

    def _apply(self) -> None:
        self.view.set_trace_band(self.shown and bool(self.scores))
        self._invalidate()

    def set_frame(self, frame: int) -> None:
        self.frame = frame

    def _invalidate(self) -> None:
        self._paths = {}
        self.view.invalidate_static()

    def _band(self, layer: int) -> QtCore.QRectF:
        r = self.view.cell_below(layer)
        return QtCore.QRectF(r.left(), r.top() + 16, r.width(), max(r.height() - 20, 4))

    def _path(self, layer: int) -> QtGui.QPainterPath:
        """The trace in widget pixels; NaN frames break it."""
        if layer not in self._paths:
            a, b = self._range(self.scores[layer])
            y = self.scores[layer].per_frame[a:b]
            band = self._band(layer)
            n = b - a
            step = max(1, math.ceil(n / MAX_POINTS))
            path = QtGui.QPainterPath()
            pen_down = False
            for i in range(0, n, step):
                chunk = y[i:i + step]
                v = np.nanmax(chunk) if np.isfinite(chunk).any() else np.nan
                if not np.isfinite(v):
                    pen_down = False
                    continue
                px = band.left() + band.width() * (i + step / 2) / max(n, 1)
                py = band.bottom() - band.height() * min(v, self.top) / self.top
                if pen_down:
                    path.lineTo(px, py)
                else:
                    path.moveTo(px, py)
                    pen_down = True
            self._paths[layer] = path
        return self._paths[layer]

    def _draw_static(self, painter: QtGui.QPainter, layer: int) -> None:
        """The dashed line at 1 (as active as the layer), the trace, the utterance mean."""
        if not self.shown or layer not in self.scores:
            return
        band = self._band(layer)
        one = band.bottom() - band.height() / self.top
        painter.setPen(QtGui.QPen(BASE, 1, QtCore.Qt.DashLine))
        painter.drawLine(QtCore.QPointF(band.left(), one), QtCore.QPointF(band.right(), one))
        painter.setPen(QtGui.QPen(TRACE, 1.3))
        painter.drawPath(self._path(layer))
        font = painter.font()
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(TEXT)
        painter.drawText(QtCore.QRectF(band.left(), band.top() - 16, band.width(), 14),
                         QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter,
                         f"{self.mean_label} {times(self.scores[layer].mean)}")

    def _paint(self, painter: QtGui.QPainter) -> None:
        """The playhead on each trace (the rest is in the view's kept cell images)."""
        if not (self.shown and self.scores):
            return
        painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 1))
        for cell in self.view.cells:
            score = self.scores.get(cell.layer)
            if score is None:
                continue
            band = self._band(cell.layer)
            a, b = self._range(score)
            n = b - a
            x = band.left() + band.width() * (min(self.frame - a, n - 1) + 0.5) / max(n, 1)
            painter.drawLine(QtCore.QPointF(x, band.top()), QtCore.QPointF(x, band.bottom()))
