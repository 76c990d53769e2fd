"""Small toolbar widgets: the colouring options and the recording indicator."""

from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from ..colouring import COLORMAPS, ColourOptions
from ..recording import SILENCE_DB

METER_FLOOR_DB = -60.0


class ColourControls(QtWidgets.QWidget):
    """Colormap, scale (per frame as the seed, or absolute) and smoothing alpha."""

    changed = QtCore.pyqtSignal(object)  # ColourOptions

    def __init__(self, options: ColourOptions, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 0)
        self.colormap = QtWidgets.QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setToolTip("colormap: jet as the original demo, or the perceptual viridis")
        self.scale = QtWidgets.QComboBox()
        self.scale.addItem("per frame", "frame")
        self.scale.addItem("absolute", "absolute")
        self.scale.setToolTip("per frame: each frame divided by its max and min-max scaled "
                              "(the original demo);\nabsolute: the layer's own range, e.g. "
                              "[0, 1] for sigmoid outputs")
        self.alpha = QtWidgets.QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05,
                                              decimals=2)
        self.alpha.setSpecialValueText("off")
        self.alpha.setToolTip("smoothing with mesh neighbours: 0 (off) .. 1; 0.5 as the "
                              "original demo")
        self.alpha.setKeyboardTracking(False)
        for label, w in (("colours", self.colormap), ("scale", self.scale),
                         ("smoothing", self.alpha)):
            row.addWidget(QtWidgets.QLabel(label))
            row.addWidget(w)
        self.set_options(options)
        self.colormap.currentIndexChanged.connect(self._changed)
        self.scale.currentIndexChanged.connect(self._changed)
        self.alpha.valueChanged.connect(self._changed)

    def options(self) -> ColourOptions:
        return ColourOptions(self.colormap.currentText(), self.scale.currentData(),
                             round(self.alpha.value(), 2))

    def set_options(self, o: ColourOptions) -> None:
        for w in (self.colormap, self.scale, self.alpha):
            w.blockSignals(True)
        self.colormap.setCurrentText(o.colormap)
        self.scale.setCurrentIndex(self.scale.findData(o.scale))
        self.alpha.setValue(o.alpha)
        for w in (self.colormap, self.scale, self.alpha):
            w.blockSignals(False)
        self._changed()

    def _changed(self, *_):
        self.changed.emit(self.options())


class RecordIndicator(QtWidgets.QWidget):
    """A red REC label with the time recorded and a level meter; hidden when not
    recording."""

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        self.label = QtWidgets.QLabel()
        self.label.setStyleSheet("QLabel { color: white; background: #d0302a; "
                                 "border-radius: 4px; padding: 2px 8px; font-weight: bold; }")
        self.meter = QtWidgets.QProgressBar(minimum=0, maximum=int(-METER_FLOOR_DB),
                                            textVisible=False, maximumWidth=140,
                                            maximumHeight=12)
        self.meter.setToolTip("input level, -60..0 dBFS")
        self.meter.setStyleSheet("QProgressBar::chunk { background: qlineargradient(x1:0, "
                                 "y1:0, x2:1, y2:0, stop:0 #3fb950, stop:0.75 #d29922, "
                                 "stop:1 #f85149); }")
        self.label.setSizePolicy(QtWidgets.QSizePolicy.Maximum, QtWidgets.QSizePolicy.Fixed)
        self.meter.setFixedWidth(120)
        self.setSizePolicy(QtWidgets.QSizePolicy.Maximum, QtWidgets.QSizePolicy.Fixed)
        row.addWidget(self.label)
        row.addWidget(self.meter)
        self.level_db = SILENCE_DB
        self.action: QtWidgets.QAction | None = None  # its toolbar action shows and hides it

    def start(self) -> None:
        self.show_level(SILENCE_DB, 0.0)
        if self.action is not None:
            self.action.setVisible(True)

    def stop(self) -> None:
        if self.action is not None:
            self.action.setVisible(False)

    def show_level(self, level_db: float, seconds: float) -> None:
        self.level_db = level_db
        self.label.setText(f"\u25cf REC {int(seconds // 60)}:{seconds % 60:04.1f}")
        self.meter.setValue(int(round(max(level_db, METER_FLOOR_DB) - METER_FLOOR_DB)))
