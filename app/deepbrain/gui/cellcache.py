"""Drawing that changes only when the cells move, painted once per cell into an image.

QPainter text and paths over the GL view cost far more than the GL maps under llvmpipe
(~0.2 ms a label); the view then blits one image per cell a frame, which the GL paint
engine keeps as a texture until the image changes.
"""

from __future__ import annotations

from typing import Callable

from PyQt5 import QtCore, QtGui


class CellImages:
    """``draw(painter, layer)`` paints in widget coordinates within ``area(layer)``; the
    result is kept per layer until :meth:`invalidate` or the area changes."""

    def __init__(self, view, area: Callable[[int], QtCore.QRectF],
                 draw: Callable[[QtGui.QPainter, int], None]):
        self.view, self.area, self.draw = view, area, draw
        self._images: dict[int, tuple[QtCore.QRect, QtGui.QImage]] = {}

    def invalidate(self) -> None:
        self._images = {}

    def paint(self, painter: QtGui.QPainter, font: QtGui.QFont | None = None) -> None:
        for cell in self.view.cells:
            rect = self.area(cell.layer).toAlignedRect()
            if rect.isEmpty():
                continue
            kept = self._images.get(cell.layer)
            if kept is None or kept[0] != rect:
                kept = (rect, self._render(cell.layer, rect, font or painter.font()))
                self._images[cell.layer] = kept
            painter.drawImage(rect.topLeft(), kept[1])

    def _render(self, layer: int, rect: QtCore.QRect, font: QtGui.QFont) -> QtGui.QImage:
        dpr = self.view.devicePixelRatio()
        image = QtGui.QImage(max(int(rect.width() * dpr), 1), max(int(rect.height() * dpr), 1),
                             QtGui.QImage.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(dpr)
        image.fill(QtCore.Qt.transparent)
        p = QtGui.QPainter(image)
        p.setRenderHints(QtGui.QPainter.Antialiasing | QtGui.QPainter.TextAntialiasing)
        p.setFont(font)
        p.translate(-rect.left(), -rect.top())
        self.draw(p, layer)
        p.end()
        return image
