"""The colour bar: the colormap in use and what its ends mean, painted beside the maps (in
the GL view, so screenshots have it)."""

from __future__ import annotations

import numpy as np
from PyQt5 import QtCore, QtGui

from ..colouring import colormap_lut

TEXT = (215, 219, 226)
CAPTION = (140, 146, 156)
FRAME = (70, 75, 84)


class ColourBar:
    """State (colormap, end labels, caption) and :meth:`paint` into a rectangle."""

    def __init__(self):
        self.set_scale("jet", "max", "min", "relative to each frame")
        self.changed = None   # called after set_scale (the view repaints)

    def set_scale(self, colormap: str, top: str, bottom: str, caption: str) -> None:
        lut = (colormap_lut(colormap)[::-1, :3] * 255).round().astype(np.uint8)
        self._pixels = np.ascontiguousarray(lut[:, None, :])  # the QImage reads this memory
        self._image = QtGui.QImage(self._pixels.data, 1, lut.shape[0], 3,
                                   QtGui.QImage.Format_RGB888)
        self.colormap, self._labels = colormap, (top, bottom, caption)
        if getattr(self, "changed", None) is not None:
            self.changed()

    def labels(self) -> tuple[str, str, str]:
        return self._labels

    def paint(self, p: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        """The bar in the left part of ``rect``, its end labels beside it and the caption
        along it."""
        top, bottom, caption = self._labels
        fm = p.fontMetrics()
        width = min(max(rect.width() * 0.25, 10.0), 18.0)
        bar = QtCore.QRectF(rect.left(), rect.top() + fm.height(), width,
                            max(rect.height() - 2 * fm.height(), 10.0))
        p.drawImage(bar, self._image)
        p.setPen(QtGui.QColor(*FRAME))
        p.drawRect(bar)
        p.setPen(QtGui.QColor(*TEXT))
        p.drawText(QtCore.QRectF(bar.left() - 20, rect.top(), bar.width() + 40, fm.height()),
                   QtCore.Qt.AlignCenter, top)
        p.drawText(QtCore.QRectF(bar.left() - 20, bar.bottom() + 2, bar.width() + 40,
                                 fm.height()), QtCore.Qt.AlignCenter, bottom)
        p.save()
        p.translate(bar.right() + 6, bar.center().y())
        p.rotate(-90)
        p.setPen(QtGui.QColor(*CAPTION))
        p.drawText(QtCore.QRectF(-bar.height() / 2, 0, bar.height(), fm.height()),
                   QtCore.Qt.AlignCenter, caption)
        p.restore()
