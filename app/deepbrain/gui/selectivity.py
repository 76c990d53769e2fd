"""The selectivity picture of a layer: ``lda/K/psi.png`` (units x phones PSI, both axes
clustered) as ``build-map --plot`` draws it, scaled to the panel."""

from __future__ import annotations

from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets


class SelectivityPanel(QtWidgets.QWidget):
    """A layer chooser over the picture of that layer."""

    def __init__(self, parent=None):
        super().__init__(parent)
        box = QtWidgets.QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("layer"))
        self.layer_box = QtWidgets.QComboBox()
        row.addWidget(self.layer_box, 1)
        box.addLayout(row)
        self.picture = QtWidgets.QLabel(alignment=QtCore.Qt.AlignCenter)
        self.picture.setMinimumSize(200, 180)
        self.picture.setSizePolicy(QtWidgets.QSizePolicy.Ignored,
                                   QtWidgets.QSizePolicy.Ignored)
        self.picture.setWordWrap(True)
        box.addWidget(self.picture, 1)
        self.model_dir: Path | None = None
        self._pixmap: QtGui.QPixmap | None = None
        self.layer_box.currentIndexChanged.connect(self._show)

    def set_model(self, model_dir: Path | None, layers: list[int]) -> None:
        self.model_dir = model_dir
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        for k in layers:
            self.layer_box.addItem(f"Layer {k}", k)
        self.layer_box.blockSignals(False)
        self._show()

    def show_layer(self, layer: int) -> None:
        i = self.layer_box.findData(layer)
        if i >= 0:
            self.layer_box.setCurrentIndex(i)

    @property
    def layer(self) -> int | None:
        return self.layer_box.currentData()

    def _show(self, *_) -> None:
        self._pixmap = None
        k = self.layer
        if self.model_dir is None or k is None:
            self.picture.setText("no model")
        else:
            path = self.model_dir / "lda" / str(k) / "psi.png"
            pixmap = QtGui.QPixmap(str(path)) if path.is_file() else QtGui.QPixmap()
            if pixmap.isNull():
                self.picture.setText(f"No selectivity picture for layer {k} "
                                     f"({path.name} {'unreadable' if path.is_file() else 'missing'}"
                                     f"): build the maps with deepbrain build-map ... --plot")
            else:
                self._pixmap = pixmap
        self._fit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.picture.setPixmap(self._pixmap.scaled(self.picture.size(),
                                                       QtCore.Qt.KeepAspectRatio,
                                                       QtCore.Qt.SmoothTransformation))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._fit()

    def has_picture(self) -> bool:
        return self._pixmap is not None
