"""Transport controls: play / pause / stop, frame slider, frame number + Go, speed."""

from __future__ import annotations

from PyQt5 import QtCore, QtWidgets

from ..playback import SPEEDS


class Transport(QtWidgets.QWidget):
    """Emits what the user asks for; the window decides and calls :meth:`show_frame`."""

    play = QtCore.pyqtSignal()
    pause = QtCore.pyqtSignal()
    stop = QtCore.pyqtSignal()
    seek = QtCore.pyqtSignal(int)
    speed_changed = QtCore.pyqtSignal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        style = self.style()
        self.play_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaPlay), "Play")
        self.pause_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaPause), "Pause")
        self.stop_button = QtWidgets.QPushButton(
            style.standardIcon(QtWidgets.QStyle.SP_MediaStop), "Stop")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.slider.setFocusPolicy(QtCore.Qt.NoFocus)  # arrows belong to the window
        self.frame_box = QtWidgets.QSpinBox()
        self.frame_box.setKeyboardTracking(False)
        self.frame_box.setToolTip("frame number (0-based); Enter or Go shows it")
        self.go_button = QtWidgets.QPushButton("Go")
        self.total_label = QtWidgets.QLabel("/ 0")
        self.time_label = QtWidgets.QLabel("0.000 s")
        self.time_label.setMinimumWidth(120)
        self.speed_box = QtWidgets.QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}\u00d7", s)
        self.speed_box.setToolTip("playback speed (slower plays the sound stretched)")

        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        for w in (self.play_button, self.pause_button, self.stop_button):
            w.setFocusPolicy(QtCore.Qt.NoFocus)
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        row.addWidget(QtWidgets.QLabel("frame"))
        row.addWidget(self.frame_box)
        row.addWidget(self.total_label)
        row.addWidget(self.go_button)
        row.addWidget(self.time_label)
        row.addWidget(QtWidgets.QLabel("speed"))
        row.addWidget(self.speed_box)

        self.play_button.clicked.connect(self.play)
        self.pause_button.clicked.connect(self.pause)
        self.stop_button.clicked.connect(self.stop)
        self.slider.valueChanged.connect(self._slid)
        self.go_button.clicked.connect(self._go)
        self.frame_box.editingFinished.connect(self._go)
        self.speed_box.currentIndexChanged.connect(
            lambda i: self.speed_changed.emit(float(self.speed_box.itemData(i))))
        self._updating = False
        self.set_frames(0)

    def set_frames(self, count: int) -> None:
        self._updating = True
        self.slider.setRange(0, max(count - 1, 0))
        self.frame_box.setRange(0, max(count - 1, 0))
        self.total_label.setText(f"/ {max(count - 1, 0)}")
        self._updating = False
        for w in (self.play_button, self.pause_button, self.stop_button, self.slider,
                  self.frame_box, self.go_button):
            w.setEnabled(count > 0)

    def show_frame(self, index: int, seconds: float) -> None:
        """Reflect the frame shown (does not emit :attr:`seek`)."""
        self._updating = True
        self.slider.setValue(index)
        if not self.frame_box.hasFocus():
            self.frame_box.setValue(index)
        self.time_label.setText(f"{seconds:.3f} s")
        self._updating = False

    def set_playing(self, playing: bool) -> None:
        self.play_button.setEnabled(not playing and self.slider.isEnabled())
        self.pause_button.setEnabled(playing)

    def _slid(self, value: int) -> None:
        if not self._updating:
            self.seek.emit(value)

    def _go(self) -> None:
        if not self._updating:
            self.seek.emit(self.frame_box.value())
