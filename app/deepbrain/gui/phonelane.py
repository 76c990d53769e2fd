"""The phone lanes under the waveform: what is said (a transcript aligned, or a file of
phones) and what the model hears (its top output phone), on the waveform's time axis, with
the phone at the playhead written large.

A row above the lanes takes a transcript (Enter aligns it) or opens a phones file; the
window does the work and hands back :class:`~deepbrain.phonelanes.PhoneLane` s.
"""

from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from ..phoneclasses import MANNER_COLOURS, manner, phone_key
from ..phonelanes import PhoneLane
from ..segments import phone_at

LANE_HEIGHT = 30
AXIS_WIDTH = 44          # the waveform's left axis: lane names go there
BACKGROUND = "#14161a"
TEXT = QtGui.QColor(215, 219, 226)
DIM = QtGui.QColor(140, 146, 156)


class PhoneLaneView(QtWidgets.QWidget):
    """Two lanes painted on the time axis of ``ref`` (a pyqtgraph PlotWidget: the
    waveform). Emits ``seek(seconds)`` on a click."""

    seek = QtCore.pyqtSignal(float)

    def __init__(self, ref, parent=None):
        super().__init__(parent)
        self.ref = ref
        self.frame_shift = 0.01
        self.lanes: dict[str, PhoneLane | None] = {"said": None, "hears": None}
        self.hints = {"said": "no transcript: type one above, or open a phones file",
                      "hears": "the model's outputs are not the phones of its phones.txt"}
        self.cursor = 0.0
        self.frame = 0
        self.names: tuple[str, ...] = ("said", "hears")   # the lanes shown, top down
        self._kept: tuple | None = None      # (key, the lanes painted without the cursor)
        self.setFixedHeight(2 * LANE_HEIGHT + 4)
        self.setAutoFillBackground(True)
        pal = self.palette()
        pal.setColor(QtGui.QPalette.Window, QtGui.QColor(BACKGROUND))
        self.setPalette(pal)
        ref.getPlotItem().vb.sigXRangeChanged.connect(self.update)

    def set_lane(self, name: str, lane: PhoneLane | None, hint: str | None = None) -> None:
        self.lanes[name] = lane
        if hint:
            self.hints[name] = hint
        self.update()

    def show_lanes(self, names: tuple[str, ...]) -> None:
        """Which lanes there are: ``("said",)`` for a model that hears no phones (nnet3)."""
        if tuple(names) != self.names:
            self.names = tuple(names)
            self.setFixedHeight(len(self.names) * LANE_HEIGHT + 4)
            self.update()

    def current(self, name: str) -> str | None:
        lane = self.lanes.get(name)
        seg = phone_at(lane.segments, self.frame) if lane is not None else None
        return seg.phone if seg is not None else None

    def set_cursor(self, frame: int, seconds: float) -> None:
        if frame != self.frame or seconds != self.cursor:
            self.frame, self.cursor = frame, seconds
            self.update()

    def _x_of(self):
        """Seconds -> this widget's x, through the waveform plot's view box (its two ends:
        widget pixels are whole, so a second of an hour-long axis is not measured alone)."""
        vb = self.ref.getPlotItem().vb
        lo, hi = vb.viewRange()[0]
        if hi <= lo:
            hi = lo + 1.0
        xs = []
        for t in (lo, hi):
            scene = vb.mapViewToScene(QtCore.QPointF(t, 0.0))
            pos = self.ref.mapFromScene(scene)
            xs.append(self.mapFromGlobal(self.ref.viewport().mapToGlobal(pos)).x())
        x0, per_second = xs[0], (xs[1] - xs[0]) / (hi - lo)
        return lambda t: x0 + (t - lo) * per_second

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:
        if ev.button() == QtCore.Qt.LeftButton and ev.x() > AXIS_WIDTH:
            x_of = self._x_of()
            x0, x1 = x_of(0.0), x_of(1.0)
            if x1 != x0:
                self.seek.emit((ev.x() - x0) / (x1 - x0))

    def paintEvent(self, ev) -> None:
        """The lanes from a kept picture (made again when they, the size or the time axis
        change), then the current phones over it."""
        x_of = self._x_of()
        key = (self.width(), self.height(), round(x_of(0.0), 2), round(x_of(1.0), 2),
               id(self.lanes["said"]), id(self.lanes["hears"]), self.frame_shift, self.names)
        if self._kept is None or self._kept[0] != key:
            pixmap = QtGui.QPixmap(self.size() * self.devicePixelRatioF())
            pixmap.setDevicePixelRatio(self.devicePixelRatioF())
            pixmap.fill(QtGui.QColor(BACKGROUND))
            p = QtGui.QPainter(pixmap)
            p.setRenderHint(QtGui.QPainter.TextAntialiasing)
            for row, name in enumerate(self.names):
                self._paint_lane(p, name, 2 + row * LANE_HEIGHT, x_of)
            p.end()
            self._kept = (key, pixmap)
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.TextAntialiasing)
        painter.drawPixmap(0, 0, self._kept[1])
        for row, name in enumerate(self.names):
            self._paint_current(painter, name, 2 + row * LANE_HEIGHT, x_of)
        painter.end()

    def _paint_current(self, painter: QtGui.QPainter, name: str, top: int, x_of) -> None:
        lane = self.lanes.get(name)
        if lane is None:
            return
        now = phone_at(lane.segments, self.frame)
        if now is None:
            return
        area = QtCore.QRect(AXIS_WIDTH, top, self.width() - AXIS_WIDTH, LANE_HEIGHT - 2)
        painter.setClipRect(area)
        x0, x1 = x_of(now.start * self.frame_shift), x_of(now.end * self.frame_shift)
        rect = QtCore.QRectF(x0, top + 3, max(x1 - x0 - 1, 1), LANE_HEIGHT - 8)
        painter.fillRect(rect, QtGui.QColor(*MANNER_COLOURS[manner(now.phone)]))
        other = self.current("hears" if name == "said" else "said")
        self._paint_now(painter, now.phone, top, x_of(self.cursor), area,
                        other is not None and phone_key(other) != phone_key(now.phone))
        painter.setClipping(False)

    def _paint_lane(self, painter: QtGui.QPainter, name: str, top: int, x_of) -> None:
        font = painter.font()
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(DIM)
        painter.drawText(QtCore.QRect(0, top, AXIS_WIDTH - 6, LANE_HEIGHT),
                         QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter, name)
        lane = self.lanes.get(name)
        area = QtCore.QRect(AXIS_WIDTH, top, self.width() - AXIS_WIDTH, LANE_HEIGHT - 2)
        painter.setClipRect(area)
        if lane is None:
            painter.drawText(area.adjusted(8, 0, 0, 0),
                             QtCore.Qt.AlignLeft | QtCore.Qt.AlignVCenter, self.hints[name])
            painter.setClipping(False)
            return
        shift = self.frame_shift
        metrics = painter.fontMetrics()
        painter.setPen(TEXT)
        for seg in lane.segments:
            x0, x1 = x_of(seg.start * shift), x_of(seg.end * shift)
            if x1 < area.left() or x0 > area.right():
                continue
            rect = QtCore.QRectF(x0, top + 3, max(x1 - x0 - 1, 1), LANE_HEIGHT - 8)
            base = QtGui.QColor(*MANNER_COLOURS[manner(seg.phone)])
            base.setAlpha(70)
            painter.fillRect(rect, base)
            if metrics.horizontalAdvance(seg.phone) + 4 < rect.width():
                painter.drawText(rect, QtCore.Qt.AlignCenter, seg.phone)
        painter.setClipping(False)

    def _paint_now(self, painter, phone: str, top: int, x: float, area: QtCore.QRect,
                   differs: bool) -> None:
        """The phone under the playhead, large, in a box centred on it."""
        font = painter.font()
        font.setPixelSize(LANE_HEIGHT - 8)
        font.setBold(True)
        painter.setFont(font)
        w = painter.fontMetrics().horizontalAdvance(phone) + 14
        left = min(max(x - w / 2, area.left()), area.right() - w)
        box = QtCore.QRectF(left, top, w, LANE_HEIGHT - 2)
        painter.fillRect(box, QtGui.QColor(250, 250, 252))
        painter.setPen(QtGui.QPen(QtGui.QColor(220, 60, 60) if differs
                                  else QtGui.QColor(250, 250, 252), 2))
        painter.drawRect(box)
        painter.setPen(QtGui.QColor(12, 12, 14))
        painter.drawText(box, QtCore.Qt.AlignCenter, phone)
        font.setBold(False)
        font.setPixelSize(11)
        painter.setFont(font)


class TranscriptBar(QtWidgets.QWidget):
    """A transcript entry (Enter or Align aligns it), Open phones…, and where the lanes came
    from."""

    align = QtCore.pyqtSignal(str)
    open_phones = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(AXIS_WIDTH + 4, 2, 6, 2)
        self.text = QtWidgets.QLineEdit()
        self.text.setPlaceholderText("type what is said and press Enter to align it to the "
                                     "sound")
        self.text.setClearButtonEnabled(True)
        self.align_button = QtWidgets.QPushButton("Align")
        self.open_button = QtWidgets.QPushButton("Open phones\u2026")
        self.open_button.setToolTip("a CTM (ali-to-phones --ctm-output) or per-frame phone "
                                    "ids (an int-vector ark or scp) for this utterance")
        self.source = QtWidgets.QLabel()
        self.source.setStyleSheet("color: #8c929c")
        row.addWidget(QtWidgets.QLabel("said"))
        row.addWidget(self.text, 1)
        row.addWidget(self.align_button)
        row.addWidget(self.open_button)
        row.addWidget(self.source)
        self.text.returnPressed.connect(self._align)
        self.align_button.clicked.connect(self._align)
        self.open_button.clicked.connect(self.open_phones)

    def _align(self) -> None:
        if self.text.text().strip():
            self.align.emit(self.text.text())

    def set_source(self, text: str) -> None:
        self.source.setText(text)
        self.source.setToolTip(text)

    def set_busy(self, busy: bool) -> None:
        self.align_button.setEnabled(not busy)
        self.text.setEnabled(not busy)


class PhonePanel(QtWidgets.QWidget):
    """The transcript bar over the two lanes."""

    def __init__(self, ref, parent=None):
        super().__init__(parent)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.bar = TranscriptBar()
        self.lanes = PhoneLaneView(ref)
        box.addWidget(self.bar)
        box.addWidget(self.lanes)
