"""Phone regions drawn on the maps: outlines, labels, the spoken phone's region lit, and the
maps coloured by preferred phone with a legend.

Outlines are GL line items attached to each layer's cell (drawn by the GPU with the meshes,
nothing recomputed per frame); the spoken phone's outline is swapped only when the phone
changes. Labels are QPainter text over the maps. The geometry is deepbrain.regions'.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyqtgraph.opengl as gl
from PyQt5 import QtCore, QtGui

from ..layermap import LayerMap
from ..maps.units import UnitTable
from ..phoneclasses import phone_key, phone_palette
from ..regions import (MIN_LABEL_UNITS, mesh_rim, mosaic_outline, region_labels,
                       region_outline, smooth_labels)
from .cellcache import CellImages
from .mapview import BAR_BAND

OUTLINE = (0.05, 0.05, 0.07, 0.55)        # the map of all regions: thin, dark
LIT = (1.0, 1.0, 1.0, 1.0)                # the spoken phone's region
LABEL_COLOUR = (245, 246, 250)
LABEL_BACK = (15, 17, 21, 150)
MAX_LABEL_PX = 15
LEGEND_BAND = 1.6                         # scene units right of the grid for the legend
DOT_PX = 6.0                              # a unit's dot in the view by phone
MESH_DIM = 0.35                           # the mesh under the dots, by phone


def segments_3d(segments: np.ndarray, z: float) -> np.ndarray:
    """n x 2 x 2 segments as 2n x 3 points for a GLLinePlotItem in 'lines' mode."""
    pts = segments.reshape(-1, 2)
    return np.column_stack([pts, np.full(pts.shape[0], z)]).astype(np.float32)


class RegionOverlay:
    """Everything the phone regions add to a :class:`~.mapview.LayerGridView`."""

    def __init__(self, view):
        self.view = view
        self.tables: dict[int, UnitTable] = {}
        self.maps: Mapping[int, LayerMap] = {}
        self.shown = False
        self.by_phone = False
        self.phone: str | None = None
        self.phones: list[str] = []              # every layer's phones, one colour each
        self._labels: dict[int, list] = {}
        self._mosaic: dict[int, np.ndarray] = {}
        self._lit_cache: dict[tuple[int, str], np.ndarray] = {}
        self._rims: dict[int, np.ndarray] = {}
        self._items: tuple | None = None      # GL items: all outlines, the spoken's, dots
        self._placed: dict[int, list] = {}     # label rects for the present cells
        self._lit_labels = CellImages(view, self._lit_area, self._draw_lit_labels)
        view.static_painters.append(self._draw_labels)
        view.painters.append(self._paint_lit_labels)
        view.layout_changed.connect(self._moved)

    def _moved(self) -> None:
        self._placed = {}
        self._lit_labels.invalidate()
        self._place_items()
        self.view.update()

    def _dot_px(self, layer: int) -> float:
        """A unit's dot: about half the spacing of units on the map as drawn."""
        cells = [c for c in self.view.cells if c.layer == layer]
        if not cells:
            return DOT_PX
        side = self.view.cell_rect(layer).width()
        return float(min(max(0.4 * side / np.sqrt(self.maps[layer].num_units), 2.0), DOT_PX))

    # -- content -----------------------------------------------------------------------------

    def set_tables(self, maps: Mapping[int, LayerMap], tables: Mapping[int, UnitTable]) -> None:
        """A new model's unit tables (layers without one get no regions)."""
        self.maps, self.tables = maps, dict(tables)
        self._lit_cache = {}
        self._rims = {}
        self._placed = {}
        self._lit_labels.invalidate()
        self.view.invalidate_static()
        self.view.invalidate_side()
        self.phones = []
        for t in self.tables.values():
            for p in t.phones:
                if phone_key(p) not in map(phone_key, self.phones):
                    self.phones.append(p)
        for k, t in self.tables.items():
            m = maps[k]
            smooth = smooth_labels(m.triangles, t.preferred)
            self._mosaic[k] = mosaic_outline(m.vertices, m.triangles, smooth)
            # label pieces of at least 2/5 of a phone's fair share of units
            least = max(MIN_LABEL_UNITS, round(0.4 * t.num_units / max(len(t.phones), 1)))
            self._labels[k] = region_labels(m.vertices, m.triangles, smooth, t.phones, least)

    @property
    def available(self) -> bool:
        return bool(self.tables)

    def layers_shown(self) -> None:
        """The view has new layers: one GL item each for all layers' outlines, the spoken
        phone's outlines and the dots of the view by phone (one item draws much faster
        than one per layer)."""
        self._items = None
        if not any(k in self.tables for k in self.view.meshes):
            return
        mosaic = gl.GLLinePlotItem(pos=np.zeros((0, 3), np.float32), mode="lines",
                                   color=OUTLINE, width=1.0, antialias=False,
                                   glOptions="translucent")
        lit = gl.GLLinePlotItem(pos=np.zeros((0, 3), np.float32), mode="lines", color=LIT,
                                width=2.5, antialias=False, glOptions="translucent")
        dots = gl.GLScatterPlotItem(pos=np.zeros((0, 3), np.float32), pxMode=True,
                                    glOptions="translucent")
        self.view.attach(None, dots, depth=0.5)
        self.view.attach(None, mosaic, depth=1.0)
        self.view.attach(None, lit, depth=2.0)
        self._items = (mosaic, lit, dots)
        self._place_items()
        self._apply()

    def _mapped(self) -> list[int]:
        return [c.layer for c in self.view.cells if c.layer in self.tables]

    def _place_items(self) -> None:
        """Positions (scene coordinates) for the cells as they are now."""
        if self._items is None or self._items[0] not in self.view.items:
            return            # (stale items of layers no longer shown: layers_shown follows)
        mosaic, _, dots = self._items
        layers = self._mapped()
        if not layers:
            return
        mosaic.setData(pos=segments_3d(np.concatenate(
            [self.view.to_scene(k, self._mosaic[k].reshape(-1, 2)).reshape(-1, 2, 2)
             for k in layers]), 0.05))
        xy = [self.view.to_scene(k, self.maps[k].vertices) for k in layers]
        pts = np.concatenate(xy)
        dots.setData(pos=np.column_stack([pts, np.full(len(pts), 0.02)]).astype(np.float32),
                     color=np.concatenate([self._unit_colours(self.tables[k])
                                           for k in layers]),
                     size=np.concatenate([np.full(len(p), self._dot_px(k), np.float32)
                                          for k, p in zip(layers, xy)]))
        self._place_lit()

    def _place_lit(self) -> None:
        lit = self._items[1]
        segs = [self.view.to_scene(k, self._lit(k, self.phone).reshape(-1, 2)).reshape(-1, 2, 2)
                for k in self._mapped()] if self.phone else []
        segs = [x for x in segs if x.size]
        lit.setData(pos=segments_3d(np.concatenate(segs), 0.1) if segs
                    else np.zeros((0, 3), np.float32))

    def set_shown(self, shown: bool) -> None:
        self.shown = shown and self.available
        self._apply()

    def set_phone(self, phone: str | None) -> None:
        """Light the region of ``phone`` (the one being spoken) on every layer."""
        if phone == self.phone:
            return
        self.phone = phone
        self._lit_labels.invalidate()
        if self._items is not None and self._items[1] in self.view.items:
            self._place_lit()
        self.view.update()

    def _lit(self, layer: int, phone: str) -> np.ndarray:
        key = (layer, phone_key(phone))
        if key not in self._lit_cache:
            t, m = self.tables[layer], self.maps[layer]
            inside = np.zeros(t.num_units, bool)
            inside[t.units_preferring(phone)] = True
            if layer not in self._rims:
                self._rims[layer] = mesh_rim(m.triangles)
            self._lit_cache[key] = region_outline(m.vertices, m.triangles, inside,
                                                  self._rims[layer])
        return self._lit_cache[key]

    def _apply(self) -> None:
        self.view.invalidate_static()
        if self._items is not None:
            mosaic, lit, dots = self._items
            mosaic.setVisible(self.shown)
            lit.setVisible(self.shown)
            dots.setVisible(self.by_phone)
        legend = self.by_phone and self.available
        self.view.side_painter = self._paint_legend if legend else None
        self.view.set_bar_band(LEGEND_BAND if legend else BAR_BAND)
        self.view.update()

    # -- colouring by preferred phone --------------------------------------------------------

    def set_by_phone(self, on: bool) -> None:
        self.by_phone = on and self.available
        self._apply()

    def _unit_colours(self, table: UnitTable) -> np.ndarray:
        """units x 4 RGBA: each unit's preferred phone, one colour per phone on all layers."""
        palette = phone_palette(len(self.phones))
        index = {phone_key(p): i for i, p in enumerate(self.phones)}
        of_column = np.array([index[phone_key(p)] for p in table.phones])
        return palette[of_column[table.preferred]]

    def phone_colours(self) -> dict[int, np.ndarray]:
        """Per shown layer: the mesh's colours in the view by phone (the phones' colours,
        dimmed: the units themselves are drawn as dots in full colour over it; grey for
        layers without a table)."""
        out = {}
        for k in self.view.meshes:
            t = self.tables.get(k)
            if t is None:
                out[k] = np.tile(np.float32([0.35, 0.35, 0.35, 1.0]),
                                 (self.maps[k].num_units, 1))
                continue
            rgba = self._unit_colours(t).copy()
            rgba[:, :3] *= MESH_DIM
            out[k] = rgba
        return out

    # -- painting ----------------------------------------------------------------------------

    def _placed_labels(self, layer: int) -> list[tuple[QtCore.QRectF, str]]:
        """(rect, phone) per label of ``layer`` that fits, largest pieces first, none
        overlapping; kept until the cells move."""
        if layer not in self._placed:
            metrics = QtGui.QFontMetrics(self._label_font())
            size = self._label_font().pixelSize()
            labels = sorted(self._labels.get(layer, ()), key=lambda lab: -lab.units)
            taken: list[tuple[QtCore.QRectF, str]] = []
            for lab in labels:
                p = self.view.map_to_pixel(layer, *lab.position)
                w = metrics.horizontalAdvance(lab.phone) + 4
                rect = QtCore.QRectF(p.x() - w / 2, p.y() - size / 2 - 1, w, size + 2)
                if not any(rect.intersects(t) for t, _ in taken):
                    taken.append((rect, lab.phone))
            self._placed[layer] = taken
        return self._placed[layer]

    def _label_font(self) -> QtGui.QFont:
        cells = self.view.cells
        cell_px = min((self.view.cell_rect(c.layer).width() for c in cells), default=0)
        font = QtGui.QFont()
        font.setPixelSize(int(min(max(cell_px / 24, 9), MAX_LABEL_PX)))
        font.setBold(True)
        return font

    def _draw_labels(self, painter: QtGui.QPainter, layer: int) -> None:
        """Every label of ``layer`` (into the view's kept image of the cell)."""
        if not self.shown:
            return
        painter.setFont(self._label_font())
        back, text = QtGui.QColor(*LABEL_BACK), QtGui.QColor(*LABEL_COLOUR)
        for rect, phone in self._placed_labels(layer):
            painter.fillRect(rect, back)
            painter.setPen(text)
            painter.drawText(rect, QtCore.Qt.AlignCenter, phone)

    def _spoken_labels(self, layer: int) -> list[tuple[QtCore.QRectF, str]]:
        spoken = phone_key(self.phone) if self.phone else None
        return [(r, p) for r, p in self._placed_labels(layer) if phone_key(p) == spoken]

    def _lit_area(self, layer: int) -> QtCore.QRectF:
        area = QtCore.QRectF()
        for rect, _ in self._spoken_labels(layer):
            area = area.united(rect)
        return area

    def _draw_lit_labels(self, painter: QtGui.QPainter, layer: int) -> None:
        painter.setFont(self._label_font())
        for rect, phone in self._spoken_labels(layer):
            painter.fillRect(rect, QtGui.QColor(255, 255, 255, 235))
            painter.setPen(QtGui.QColor(10, 10, 12))
            painter.drawText(rect, QtCore.Qt.AlignCenter, phone)

    def _paint_lit_labels(self, painter: QtGui.QPainter) -> None:
        """The spoken phone's labels, lit, over the others (a small image per cell, made
        again when the phone changes)."""
        if self.shown and self.phone:
            self._lit_labels.paint(painter)

    def _paint_legend(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        """Phone swatches in columns filling the colour bar's place."""
        palette = phone_palette(len(self.phones))
        n = len(self.phones)
        if n == 0:
            return
        font = painter.font()
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(QtGui.QColor(*LABEL_COLOUR))
        painter.drawText(QtCore.QRectF(rect.left(), rect.top() - 16, rect.width() + 40, 14),
                         QtCore.Qt.AlignLeft, "preferred phone")
        row_h = 13.0
        bottom = self.view.height() - 24.0      # the legend may run on below the maps
        rows = max(int((bottom - rect.top()) // row_h), 1)
        cols = -(-n // rows)
        col_w = max(min(rect.width() / cols, 48.0), 30.0)
        font.setPixelSize(10)
        painter.setFont(font)
        for i, name in enumerate(self.phones):
            c, r = divmod(i, rows)
            x, y = rect.left() + c * col_w, rect.top() + r * row_h
            colour = QtGui.QColor.fromRgbF(*map(float, palette[i]))
            painter.fillRect(QtCore.QRectF(x, y + 2, 9, 9), colour)
            painter.drawText(QtCore.QRectF(x + 12, y, col_w - 12, row_h),
                             QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, name)
