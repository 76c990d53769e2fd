"""The strip under the maps: the waveform and its spectrogram, a cursor, click to seek.

Both are reduced to a few thousand columns before drawing (min/max per column for the
waveform, a hop that gives at most MAX_COLUMNS spectra), so an hour of audio draws as fast
as a second of it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from ..colouring import colormap_lut

MAX_COLUMNS = 3000
N_FFT = 512


def envelope(samples: np.ndarray, rate: int, columns: int = MAX_COLUMNS
             ) -> tuple[np.ndarray, np.ndarray]:
    """x (seconds) and y pairs drawing each column's min..max as a vertical line."""
    n = samples.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros(0)
    per = max(1, int(np.ceil(n / columns)))
    cols = int(np.ceil(n / per))
    padded = np.pad(samples.astype(np.float32), (0, cols * per - n), mode="edge")
    blocks = padded.reshape(cols, per)
    t = (np.arange(cols) * per + per / 2.0) / rate
    x = np.repeat(t, 2)
    y = np.column_stack([blocks.min(axis=1), blocks.max(axis=1)]).ravel() / 32768.0
    return x, y


def spectrogram_db(samples: np.ndarray, rate: int, columns: int = MAX_COLUMNS,
                   n_fft: int = N_FFT, floor_db: float = 80.0) -> tuple[np.ndarray, float]:
    """Power spectra in dB (columns x n_fft/2+1, at most ``floor_db`` below the peak) and the
    seconds between columns."""
    x = samples.astype(np.float32)
    if x.shape[0] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[0]))
    hop = max(rate // 100, int(np.ceil((x.shape[0] - n_fft + 1) / columns)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2
    db = 10.0 * np.log10(power + 1e-3)
    db = np.maximum(db, db.max() - floor_db)
    return db.astype(np.float32), hop / rate


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

    def set_audio(self, samples: np.ndarray, rate: int) -> None:
        self.duration = samples.shape[0] / rate
        x, y = envelope(samples, rate)
        self._curve.setData(x, y)
        db, hop = spectrogram_db(samples, rate)
        self._image.setImage(db.T, autoLevels=True)   # rows: frequency bins, cols: time
        first = (N_FFT / 2) / rate - hop / 2            # column k is centred on k*hop + N_FFT/2
        self._image.setRect(QtCore.QRectF(first, 0, db.shape[0] * hop, rate / 2000.0))
        self._set_ranges(self.duration, rate / 2000.0)
        for c in self._cursors:
            c.setVisible(True)
        self.set_cursor(0.0)

    def _set_ranges(self, seconds: float, khz: float) -> None:
        self.spec.setYRange(0, khz, padding=0)
        self.wave.setXRange(0, seconds, padding=0)

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
