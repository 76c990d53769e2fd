"""The maps: one GLMeshItem per hidden layer in one flat, top-down GL view.

All layers share one GL surface (one context, one paint per frame); each mesh sits in a cell
of a grid of up to three columns, with the layer's title above it. The camera is an
orthographic projection looking straight down, fitted to the grid without distortion.

The surface is a QOpenGLWindow (pyqtgraph's GLViewMixin) in a window container, not a
QOpenGLWidget: a QOpenGLWidget is drawn into a texture that Qt then composites into the
window, which under Mesa llvmpipe costs ~20 ms a frame at 1280x720 before a single triangle
(about 47 fps of empty frames, against 125 for a QOpenGLWindow).

Per frame only the colour buffer of each mesh is uploaded: ``GLMeshItem.setMeshData``
rebuilds the whole mesh and recomputes normals (~30 ms a mesh), far too slow for 100 fps.

Each mesh is held in its map's own (fitted) coordinates and placed in its cell by a
transform, so a new number of columns (the grid takes whichever fills the view best, on every
resize) moves meshes without rebuilding them. Panels add GL items to a layer's cell
(:meth:`LayerGridView.attach`: region outlines) and QPainter drawing over the maps
(:attr:`LayerGridView.painters`: labels, traces); the mouse reports the unit under it.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pyqtgraph
import pyqtgraph.opengl as gl
from PyQt5 import QtCore, QtGui, QtWidgets

try:
    from pyqtgraph.opengl.GLViewWidget import GLViewMixin
except ImportError:  # before 0.13.7 a GL view could only be a QOpenGLWidget
    raise ImportError(f"pyqtgraph {pyqtgraph.__version__} is too old, the GUI needs 0.13.7 "
                      f"or newer: pip install -U pyqtgraph") from None

from ..layermap import LayerMap
from .cellcache import CellImages
from .colourbar import ColourBar

try:  # pyqtgraph 0.14 draws from vertex buffers and uploads what is marked dirty
    from pyqtgraph.opengl.items.GLMeshItem import DirtyFlag
except ImportError:  # 0.13 reads client-side arrays on every paint
    DirtyFlag = None

BACKGROUND = (20, 22, 26)
TITLE_COLOUR = (215, 219, 226)
NOTE_COLOUR = (140, 146, 156)
MAX_COLUMNS = 3
CELL = 2.0            # a map is fitted into a CELL x CELL square
GAP = 0.25            # space between cells
TITLE_BAND = 0.30     # room above a map for its title (scene units)
BAR_BAND = 0.75       # room right of the grid for the colour bar and its labels
TRACE_BAND = 0.42     # room under a map for a trace over the utterance, when asked for
PICK_PIXELS = 10      # how near the mouse must be to a unit to pick it


class ColourMeshItem(gl.GLMeshItem):
    """A GLMeshItem whose per-vertex colours can be replaced cheaply, many times a second."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray):
        grey = np.full((vertices.shape[0], 4), 0.35, dtype=np.float32)
        grey[:, 3] = 1.0
        self._dirty = True
        super().__init__(vertexes=vertices.astype(np.float32), faces=triangles.astype(np.uint32),
                         vertexColors=grey, smooth=True, computeNormals=False,
                         shader=None, glOptions="opaque", drawEdges=False)
        # Colours are written into the MeshData's own array: pyqtgraph 0.13 re-reads it on
        # every paint, 0.14 uploads it when marked dirty.
        self._colours = self.opts["meshdata"].vertexColors()

    def set_colours(self, rgba: np.ndarray) -> None:
        """units x 4 float RGBA in [0, 1]; copied, so the caller may reuse its array."""
        np.copyto(self._colours, rgba, casting="same_kind")
        self._dirty = True
        self.update()

    def paint(self):
        flags = self.parseMeshData()
        if self._dirty:
            self.colors = self._colours
            self._dirty = False
            if DirtyFlag is not None:
                flags = (flags or DirtyFlag(0)) | DirtyFlag.COLOR
        if DirtyFlag is not None and flags:
            self.upload_vertex_buffers(flags)
        super().paint()  # parses nothing more, uploads nothing more: only draws


@dataclass(frozen=True)
class Cell:
    layer: int
    title: str
    centre: tuple[float, float]   # scene coordinates of the map's centre


def grid_cells(layers: list[int], titles: Mapping[int, str], columns: int = MAX_COLUMNS,
               trace: float = 0.0) -> list[Cell]:
    """Row-major cells, ``columns`` a row (fewer when there are fewer layers), row 0 at the
    top; ``trace`` is the band under each map."""
    cols = min(max(columns, 1), max(len(layers), 1))
    pitch_x, pitch_y = CELL + GAP, CELL + GAP + TITLE_BAND + trace
    return [Cell(k, titles.get(k, f"Layer {k}"),
                 ((i % cols) * pitch_x, -(i // cols) * pitch_y)) for i, k in enumerate(layers)]


def grid_size(count: int, columns: int, trace: float = 0.0, bar: float = BAR_BAND
              ) -> tuple[float, float]:
    """Scene width and height of a grid of ``count`` maps in ``columns`` columns."""
    cols = min(max(columns, 1), max(count, 1))
    rows = math.ceil(max(count, 1) / cols)
    return (cols * (CELL + GAP) + bar, rows * (CELL + GAP + TITLE_BAND + trace))


def best_columns(count: int, width: float, height: float, trace: float = 0.0,
                 bar: float = BAR_BAND) -> int:
    """The number of columns that shows ``count`` maps largest in a width x height view."""
    def scale(cols: int) -> float:
        w, h = grid_size(count, cols, trace, bar)
        return min(width / w, height / h)
    return max(range(1, max(count, 1) + 1), key=lambda c: (scale(c), -c))


_share_root: QtGui.QOpenGLContext | None = None


def share_context() -> QtGui.QOpenGLContext:
    """The context every view shares objects with. pyqtgraph compiles each shader program
    once per process and reuses its id, so a second view (a new window, a test) must be in
    the same share group, which must outlive the first view's context."""
    global _share_root
    ctx = QtGui.QOpenGLContext.globalShareContext()
    if ctx is not None:
        return ctx
    if _share_root is None:
        _share_root = QtGui.QOpenGLContext()
        _share_root.setFormat(QtGui.QSurfaceFormat.defaultFormat())
        _share_root.create()
    return _share_root


class LayerGridView(GLViewMixin, QtGui.QOpenGLWindow):
    """Flat view of every shown layer's mesh, titled, in a grid that fills the view.

    A QWindow: put :attr:`container` (a QWidget) into layouts. Signals: ``layout_changed``
    (cells moved: a resize or new layers), ``unit_hovered(layer, unit, global_pos)`` (unit
    -1: none; sent when it changes) and ``unit_clicked(layer, unit)``."""

    layout_changed = QtCore.pyqtSignal()
    layers_set = QtCore.pyqtSignal()        # new meshes (attached items were dropped)
    unit_hovered = QtCore.pyqtSignal(int, int, QtCore.QPoint)
    unit_clicked = QtCore.pyqtSignal(int, int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(share_context())
        self.setBackgroundColor(QtGui.QColor(*BACKGROUND))
        self.container = QtWidgets.QWidget.createWindowContainer(self, parent)
        self.container.setMinimumSize(320, 200)
        self.container.setFocusPolicy(QtCore.Qt.StrongFocus)
        self.meshes: dict[int, ColourMeshItem] = {}
        self.cells: list[Cell] = []
        self.note = ""                 # drawn in the bottom-right corner (frame, time)
        self.colour_bar = ColourBar()
        self.colour_bar.changed = self.invalidate_side
        self.placeholder = "Open a model and a wav (or record) to see the layers"
        # drawn over the maps each frame: f(painter); drawn once per cell into a kept image
        # with the title (until invalidate_static or the cells move): f(painter, layer);
        # and instead of the colour bar (kept too): f(painter, rect)
        self.painters: list[Callable[[QtGui.QPainter], None]] = []
        self.static_painters: list[Callable[[QtGui.QPainter, int], None]] = []
        self.side_painter: Callable[[QtGui.QPainter, QtCore.QRectF], None] | None = None
        self._static = CellImages(self, self._static_area, self._draw_static)
        self._side: tuple | None = None        # (key, rect, image) of the side band
        self.trace_band = 0.0          # TRACE_BAND while a panel draws traces under maps
        self.bar_band = BAR_BAND       # wider for a legend
        self._maps: Mapping[int, LayerMap] = {}
        self._titles: Mapping[int, str] = {}
        self._fits: dict[int, tuple[np.ndarray, float]] = {}   # layer -> (map centre, factor)
        self._trees: dict = {}
        self._attached: dict[int, list] = {}
        self._columns = MAX_COLUMNS
        self._hover: tuple[int, int] | None = None

    # -- content -----------------------------------------------------------------------------

    def set_layers(self, maps: Mapping[int, LayerMap], layers: list[int],
                   titles: Mapping[int, str]) -> None:
        """Show ``layers`` (each must have a map), replacing whatever was shown (attached
        items too)."""
        from scipy.spatial import cKDTree

        old = list(self.meshes.values()) + [i for items in self._attached.values()
                                            for i in items]
        self._release(old)
        self.clear()
        self.meshes, self._attached, self._fits, self._trees = {}, {}, {}, {}
        self._maps, self._titles = maps, titles
        for k in layers:
            v = np.asarray(maps[k].vertices, np.float64)
            lo, hi = v.min(axis=0), v.max(axis=0)
            centre, factor = (lo + hi) / 2.0, CELL * 0.96 / (float(np.max(hi - lo)) or 1.0)
            self._fits[k] = (centre, factor)
            self._trees[k] = cKDTree(v)
            xy = (v - centre) * factor
            item = ColourMeshItem(np.column_stack([xy, np.zeros(xy.shape[0])]),
                                  maps[k].triangles)
            self.addItem(item)
            self.meshes[k] = item
            self._attached[k] = []
        self._attached[None] = []           # items in scene coordinates
        self._layout()
        self.layers_set.emit()

    def attach(self, layer: int | None, item, depth: float = 1.0) -> None:
        """Draw GL ``item`` (in the map's own coordinates, z > 0 to lie on it) in ``layer``'s
        cell, until the layers change or :meth:`detach`; layer None: an item in scene
        coordinates (see :meth:`to_scene`; one item for all layers draws fastest)."""
        item.setDepthValue(depth)
        self.addItem(item)
        self._attached[layer].append(item)
        self._place(layer)

    def detach(self, item) -> None:
        for items in self._attached.values():
            if item in items:
                items.remove(item)
                self._release([item])
                self.removeItem(item)

    def set_trace_band(self, on: bool) -> None:
        band = TRACE_BAND if on else 0.0
        if band != self.trace_band:
            self.trace_band = band
            self._layout()

    def set_bar_band(self, width: float) -> None:
        """Room right of the grid (scene units) for the colour bar or a legend."""
        if width != self.bar_band:
            self.bar_band = width
            self._layout()

    def _layout(self) -> None:
        """Cells for the view's present shape; meshes and items moved into them."""
        layers = list(self.meshes)
        cols = best_columns(len(layers), max(self.width(), 1), max(self.height(), 1),
                            self.trace_band, self.bar_band)
        self._columns = cols
        self.cells = grid_cells(layers, self._titles, cols, self.trace_band)
        for k in layers:
            self._place(k)
        self._static.invalidate()
        self._side = None
        self.layout_changed.emit()
        self.update()

    def _place(self, layer: int) -> None:
        cell = next((c for c in self.cells if c.layer == layer), None)
        if cell is None:
            return
        for item in [self.meshes[layer], *self._attached.get(layer, [])]:
            item.resetTransform()
            item.translate(cell.centre[0], cell.centre[1], 0.0)

    def resizeGL(self, w: int, h: int) -> None:
        self._layout()   # the cells' pixels change even when their columns do not

    def map_to_pixel(self, layer: int, x: float, y: float) -> QtCore.QPointF:
        """Widget pixels of map point (x, y) of ``layer`` (in lda/K/vertices coordinates)."""
        cell = next(c for c in self.cells if c.layer == layer)
        centre, factor = self._fits[layer]
        return self.scene_to_pixel(cell.centre[0] + (x - centre[0]) * factor,
                                   cell.centre[1] + (y - centre[1]) * factor)

    def to_scene(self, layer: int, xy: np.ndarray) -> np.ndarray:
        """Map coordinates of ``layer`` in scene coordinates (where its cell is now)."""
        cell = next(c for c in self.cells if c.layer == layer)
        return self.fitted(layer, xy) + np.array(cell.centre)

    def fitted(self, layer: int, xy: np.ndarray) -> np.ndarray:
        """Map coordinates of ``layer`` in the mesh's own (fitted) coordinates."""
        centre, factor = self._fits[layer]
        return (np.asarray(xy, np.float64) - centre) * factor

    def unit_at(self, pos: QtCore.QPointF) -> tuple[int, int] | None:
        """(layer, unit) nearest to widget pixel ``pos``, within PICK_PIXELS; else None."""
        left, _, _, top, scale = self._window(self.width(), self.height())
        x, y = left + pos.x() / scale, top - pos.y() / scale
        for cell in self.cells:
            cx, cy = cell.centre
            if abs(x - cx) <= CELL / 2 and abs(y - cy) <= CELL / 2:
                centre, factor = self._fits[cell.layer]
                local = (np.array([x - cx, y - cy]) / factor) + centre
                dist, unit = self._trees[cell.layer].query(local, k=1)
                if dist * factor * scale <= PICK_PIXELS:
                    return cell.layer, int(unit)
                return None
        return None

    def set_colours(self, layer: int, rgba: np.ndarray) -> None:
        self.meshes[layer].set_colours(rgba)

    def _release(self, items: list[ColourMeshItem]) -> None:
        """Free the GL buffers of items leaving the view, now, in our context. Left to their
        destructors, they would be freed whenever Python collects them, possibly in the middle
        of a paint, and Qt's cleanup would leave no context current for the rest of it."""
        if not items or not self.isValid():
            return
        self.makeCurrent()
        for item in items:
            for name in ("m_vbo_position", "m_vbo_normal", "m_vbo_color", "m_ibo_faces",
                         "m_vbo_edgeVerts", "m_ibo_edges"):
                buffer = getattr(item, name, None)
                if buffer is not None and buffer.isCreated():
                    buffer.destroy()
        self.doneCurrent()

    # -- camera: orthographic, straight down -------------------------------------------------

    def _bounds(self) -> tuple[float, float, float, float]:
        if not self.cells:
            return (-1.0, 1.0, -1.0, 1.0)
        xs = [c.centre[0] for c in self.cells]
        ys = [c.centre[1] for c in self.cells]
        h = CELL / 2.0 + GAP / 2.0
        return (min(xs) - h, max(xs) + h + self.bar_band, min(ys) - h - self.trace_band,
                max(ys) + h + TITLE_BAND)

    def _window(self, w: float, h: float) -> tuple[float, float, float, float, float]:
        """(left, right, bottom, top) of the scene shown in a w x h viewport, and pixels per
        scene unit."""
        x0, x1, y0, y1 = self._bounds()
        scale = min(w / (x1 - x0), h / (y1 - y0))
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        hw, hh = w / scale / 2.0, h / scale / 2.0
        return cx - hw, cx + hw, cy - hh, cy + hh, scale

    def projectionMatrix(self, region=None, viewport=None):
        # (pyqtgraph 0.13 passes only the region, 0.14 both)
        viewport = viewport or self.getViewport()
        region = region or viewport
        vx, vy, w, h = viewport
        left, right, bottom, top, _ = self._window(w, h)
        sx, sy = (right - left) / w, (top - bottom) / h
        tr = QtGui.QMatrix4x4()
        tr.ortho(left + (region[0] - vx) * sx, left + (region[0] + region[2] - vx) * sx,
                 bottom + (region[1] - vy) * sy, bottom + (region[1] + region[3] - vy) * sy,
                 -10.0, 10.0)
        return tr

    def viewMatrix(self):
        return QtGui.QMatrix4x4()  # scene x right, y up, looking down -z

    def scene_to_pixel(self, x: float, y: float) -> QtCore.QPointF:
        left, _, _, top, scale = self._window(self.width(), self.height())
        return QtCore.QPointF((x - left) * scale, (top - y) * scale)

    def cell_rect(self, layer: int) -> QtCore.QRect:
        """The widget pixels (logical) of ``layer``'s map square."""
        cell = next(c for c in self.cells if c.layer == layer)
        a = self.scene_to_pixel(cell.centre[0] - CELL / 2, cell.centre[1] + CELL / 2)
        b = self.scene_to_pixel(cell.centre[0] + CELL / 2, cell.centre[1] - CELL / 2)
        return QtCore.QRectF(a, b).toAlignedRect()

    # -- drawing -----------------------------------------------------------------------------

    def paintGL(self):
        # No garbage collection while painting: a collected GL object (another view's, a
        # removed item's) frees itself in its own context and leaves none current for ours.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._paint()
        finally:
            if collecting:
                gc.enable()

    def invalidate_static(self) -> None:
        """The static painters' drawing has changed: paint the cells' images again."""
        self._static.invalidate()
        self.update()

    def invalidate_side(self) -> None:
        self._side = None
        self.update()

    def _static_area(self, layer: int) -> QtCore.QRectF:
        """A cell with its title and trace bands and room for labels past the map's edge,
        within the view."""
        cell = next(c for c in self.cells if c.layer == layer)
        a = self.scene_to_pixel(cell.centre[0] - CELL / 2 - GAP / 2,
                                cell.centre[1] + CELL / 2 + TITLE_BAND)
        b = self.scene_to_pixel(cell.centre[0] + CELL / 2 + GAP / 2,
                                cell.centre[1] - CELL / 2 - self.trace_band - GAP / 2)
        return QtCore.QRectF(a, b).intersected(QtCore.QRectF(0, 0, self.width(),
                                                              self.height()))

    def _draw_static(self, painter: QtGui.QPainter, layer: int) -> None:
        cell = next(c for c in self.cells if c.layer == layer)
        _, _, _, _, scale = self._window(self.width(), self.height())
        font = QtGui.QFont(painter.font())
        font.setPixelSize(int(min(max(scale * TITLE_BAND * 0.55, 11), 18)))
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QtGui.QColor(*TITLE_COLOUR))
        top_left = self.scene_to_pixel(cell.centre[0] - CELL / 2,
                                       cell.centre[1] + CELL / 2 + TITLE_BAND)
        rect = QtCore.QRectF(top_left.x(), top_left.y(), scale * CELL,
                             int(math.ceil(scale * TITLE_BAND)))
        wide = QtGui.QFontMetricsF(font).horizontalAdvance(cell.title)
        if wide > rect.width() > 0:   # a long node name (nnet3) shrinks to fit its map
            font.setPixelSize(max(8, int(font.pixelSize() * rect.width() / wide)))
            painter.setFont(font)
        painter.drawText(rect, QtCore.Qt.AlignHCenter | QtCore.Qt.AlignVCenter, cell.title)
        font.setBold(False)
        font.setPixelSize(12)
        for paint in self.static_painters:
            painter.save()
            painter.setFont(font)
            paint(painter, layer)
            painter.restore()

    def _paint_side(self, painter: QtGui.QPainter) -> None:
        """The colour bar or legend, from a kept image while nothing about it changes."""
        rect = self._bar_rect()
        area = rect.adjusted(-24, -20, 24, 4).intersected(
            QtCore.QRectF(0, 0, self.width(), self.height() - 16)).toAlignedRect()
        key = (self.side_painter, area)
        if self._side is None or self._side[0] != key:
            dpr = self.devicePixelRatio()
            image = QtGui.QImage(max(int(area.width() * dpr), 1),
                                 max(int(area.height() * dpr), 1),
                                 QtGui.QImage.Format_ARGB32_Premultiplied)
            image.setDevicePixelRatio(dpr)
            image.fill(QtCore.Qt.transparent)
            p = QtGui.QPainter(image)
            p.setRenderHints(QtGui.QPainter.Antialiasing | QtGui.QPainter.TextAntialiasing)
            p.setFont(painter.font())
            p.translate(-area.left(), -area.top())
            (self.side_painter or self.colour_bar.paint)(p, rect)
            p.end()
            self._side = (key, area, image)
        painter.drawImage(self._side[1].topLeft(), self._side[2])

    def _paint(self):
        super().paintGL()
        painter = QtGui.QPainter(self)
        painter.setRenderHints(QtGui.QPainter.Antialiasing | QtGui.QPainter.TextAntialiasing)
        font = painter.font()
        font.setPixelSize(12)
        painter.setFont(font)
        self._static.paint(painter)
        for paint in self.painters if self.cells else ():
            painter.save()
            paint(painter)
            painter.restore()
        if self.cells:
            self._paint_side(painter)
        painter.setPen(QtGui.QColor(*NOTE_COLOUR))
        text = self.note if self.cells else self.placeholder
        align = (QtCore.Qt.AlignRight | QtCore.Qt.AlignBottom) if self.cells else \
            QtCore.Qt.AlignCenter
        painter.drawText(QtCore.QRect(8, 8, self.width() - 16, self.height() - 14), align, text)
        painter.end()

    def _bar_rect(self) -> QtCore.QRectF:
        """Right of the grid, from the top of the first row's maps to the bottom of the last."""
        x0, x1, y0, y1 = self._bounds()
        a = self.scene_to_pixel(x1 - self.bar_band + GAP / 2, y1 - TITLE_BAND - GAP / 2)
        b = self.scene_to_pixel(x1, y0 + GAP / 2 + self.trace_band)
        return QtCore.QRectF(a, b)

    def cell_below(self, layer: int) -> QtCore.QRectF:
        """The widget pixels of the band under ``layer``'s map (empty without a band)."""
        cell = next(c for c in self.cells if c.layer == layer)
        a = self.scene_to_pixel(cell.centre[0] - CELL / 2, cell.centre[1] - CELL / 2)
        b = self.scene_to_pixel(cell.centre[0] + CELL / 2,
                                cell.centre[1] - CELL / 2 - self.trace_band)
        return QtCore.QRectF(a, b)

    # A flat map: no orbiting, panning or zooming with mouse, wheel or keys; the mouse
    # picks units.
    def mouseMoveEvent(self, ev):
        hit = self.unit_at(QtCore.QPointF(ev.pos()))
        if hit != self._hover:
            self._hover = hit
            layer, unit = hit if hit is not None else (-1, -1)
            self.unit_hovered.emit(layer, unit, ev.globalPos())
        ev.ignore()

    def mouseReleaseEvent(self, ev):
        if ev.button() == QtCore.Qt.LeftButton:
            hit = self.unit_at(QtCore.QPointF(ev.pos()))
            if hit is not None:
                self.unit_clicked.emit(*hit)
        ev.ignore()

    def mousePressEvent(self, ev):
        ev.ignore()

    def leaveEvent(self, ev):
        if self._hover is not None:
            self._hover = None
            self.unit_hovered.emit(-1, -1, QtCore.QPoint())

    def wheelEvent(self, ev):
        ev.ignore()

    def keyPressEvent(self, ev):
        ev.ignore()

    def keyReleaseEvent(self, ev):
        ev.ignore()


def grab_cells(view: LayerGridView) -> dict[int, np.ndarray]:
    """Each shown layer's map square as read back from the GL framebuffer (H x W x 3 uint8)."""
    image = view.grabFramebuffer().convertToFormat(QtGui.QImage.Format_RGB888)
    w, h = image.width(), image.height()
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * h)
    pixels = np.frombuffer(ptr, np.uint8).reshape(h, image.bytesPerLine())[:, :w * 3]
    pixels = pixels.reshape(h, w, 3).copy()
    ratio = w / max(view.width(), 1)
    out = {}
    for cell in view.cells:
        r = view.cell_rect(cell.layer)
        x0, y0 = max(int(r.left() * ratio), 0), max(int(r.top() * ratio), 0)
        x1, y1 = min(int(r.right() * ratio), w), min(int(r.bottom() * ratio), h)
        out[cell.layer] = pixels[y0:y1, x0:x1]
    return out
