"""The strip under the maps: the waveform and its spectrogram, a cursor, click to seek.

Both are reduced to a few thousand columns before drawing (:mod:`deepbrain.overview`: min/max
per column for the waveform, a hop that gives at most MAX_COLUMNS spectra), so an hour of
audio draws as fast as a second of it; a long file's overview is made in pieces as it is
read, and live audio shows its last seconds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from ..colouring import colormap_lut
from ..overview import (MAX_COLUMNS, N_FFT, OverviewData, envelope,  # noqa: F401 (API)
                        overview_of, spectrogram_db)


class _ClickablePlot(pg.PlotWidget):
    clicked_at = QtCore.pyqtSignal(float)

    def __init__(self):
        super().__init__()
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getPlotItem().setContentsMargins(0, 0, 0, 0)
        self.scene().sigMouseClicked.connect(self._click)

    def _click(self, ev):
        if ev.button() == QtCore.Qt.LeftButton:
            self.clicked_at.emit(float(self.getPlotItem().vb.mapSceneToView(ev.scenePos()).x()))


class AudioStrip(QtWidgets.QWidget):
    """Waveform over spectrogram, sharing one time axis; emits :attr:`seek` (seconds)."""

    seek = QtCore.pyqtSignal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.wave = _ClickablePlot()
        self.spec = _ClickablePlot()
        self.wave.setFixedHeight(64)
        self.spec.setFixedHeight(96)
        for plot, label in ((self.wave, "wave"), (self.spec, "kHz")):
            item = plot.getPlotItem()
            item.getAxis("left").setWidth(44)
            item.setLabel("left", label)
            plot.clicked_at.connect(self.seek)
            layout.addWidget(plot)
        self.wave.getPlotItem().hideAxis("bottom")
        self.wave.getPlotItem().getAxis("left").setStyle(showValues=False)
        self.spec.setXLink(self.wave)
        self.wave.setYRange(-1, 1, padding=0.05)
        self.spec.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self._curve = pg.PlotDataItem(pen=pg.mkPen((110, 180, 255), width=1), connect="pairs")
        self.wave.addItem(self._curve)
        self._image = pg.ImageItem(axisOrder="row-major")
        lut = (colormap_lut("viridis")[:, :3] * 255).astype(np.uint8)
        self._image.setLookupTable(lut)
        self.spec.addItem(self._image)
        pen = pg.mkPen((255, 255, 255), width=1.5)
        self._cursors = [pg.InfiniteLine(angle=90, pen=pen, movable=False) for _ in range(2)]
        self.wave.addItem(self._cursors[0])
        self.spec.addItem(self._cursors[1])
        self.duration = 0.0
        self.clear()

    def set_audio(self, samples: np.ndarray, rate: int, offset: float = 0.0) -> None:
        """Samples held whole; ``offset``: the seconds of the first (live audio shows its
        last seconds on the utterance's time axis)."""
        self.set_overview(overview_of(samples, rate), offset)

    def set_overview(self, o: OverviewData, offset: float = 0.0) -> None:
        self.duration = offset + o.duration
        self._curve.setData(o.x + offset, o.y)
        hop, rate = o.hop_seconds, o.rate
        self._image.setImage(o.db.T, autoLevels=True)   # rows: frequency bins, cols: time
        first = offset + (N_FFT / 2) / rate - hop / 2   # column k is centred on k*hop + N_FFT/2
        self._image.setRect(QtCore.QRectF(first, 0, o.db.shape[0] * hop, rate / 2000.0))
        self._set_ranges(self.duration, rate / 2000.0, offset)
        for c in self._cursors:
            c.setVisible(True)
        if not offset:
            self.set_cursor(0.0)

    def _set_ranges(self, seconds: float, khz: float, start: float = 0.0) -> None:
        self.spec.setYRange(0, khz, padding=0)
        self.wave.setXRange(start, max(seconds, start + 1e-3), padding=0)

    def clear(self) -> None:
        self._curve.setData([], [])
        self._image.clear()
        self.duration = 0.0
        for c in self._cursors:
            c.setVisible(False)
        self._set_ranges(1.0, 8.0)

    def set_cursor(self, seconds: float) -> None:
        for c in self._cursors:
            c.setValue(seconds)

    def cursor(self) -> float:
        return float(self._cursors[0].value())
