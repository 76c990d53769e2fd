"""``deepbrain gui``: the application object, its look, and the --screenshot mode."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from PyQt5 import QtCore, QtGui, QtWidgets

from ..colouring import ColourOptions
from ..errors import DeepbrainError
from ..resources import demo_model_dir

DARK = {
    QtGui.QPalette.Window: "#1b1e23", QtGui.QPalette.WindowText: "#d7dbe2",
    QtGui.QPalette.Base: "#14161a", QtGui.QPalette.AlternateBase: "#22262c",
    QtGui.QPalette.ToolTipBase: "#22262c", QtGui.QPalette.ToolTipText: "#d7dbe2",
    QtGui.QPalette.Text: "#d7dbe2", QtGui.QPalette.Button: "#2a2f36",
    QtGui.QPalette.ButtonText: "#d7dbe2", QtGui.QPalette.BrightText: "#ff6b6b",
    QtGui.QPalette.Highlight: "#3d7bd9", QtGui.QPalette.HighlightedText: "#ffffff",
    QtGui.QPalette.Link: "#6ea8fe", QtGui.QPalette.Mid: "#3a3f47",
    QtGui.QPalette.PlaceholderText: "#8c929c",
}


def check_display() -> None:
    """Qt aborts the process without a display; say what to do instead."""
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("QT_QPA_PLATFORM")):
        raise DeepbrainError("no display (DISPLAY is unset): run the GUI on a desktop, or "
                             "headless under Xvfb: xvfb-run -a deepbrain gui ...")
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        raise DeepbrainError(f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']} has no OpenGL; "
                             f"unset it and run under Xvfb (xvfb-run -a deepbrain gui ...)")


def application(argv: Sequence[str] = ()) -> QtWidgets.QApplication:
    """The QApplication (made once), dark and with pyqtgraph set to match."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName("deepbrain")
        QtCore.QCoreApplication.setApplicationName("deepbrain")
        app = QtWidgets.QApplication(["deepbrain", *argv])
    apply_dark_theme(app)
    return app


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    import pyqtgraph as pg

    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    for role, colour in DARK.items():
        palette.setColor(role, QtGui.QColor(colour))
    for role in (QtGui.QPalette.ButtonText, QtGui.QPalette.WindowText, QtGui.QPalette.Text):
        palette.setColor(QtGui.QPalette.Disabled, role, QtGui.QColor("#6b717b"))
    app.setPalette(palette)
    pg.setConfigOptions(background="#14161a", foreground="#aab0ba", antialias=False)


def run(args) -> int:
    """``deepbrain gui``: interactive, or render one state to a PNG with --screenshot."""
    check_display()
    options = None  # the options saved from the last run
    if args.colormap or args.scale or args.alpha is not None:
        base = ColourOptions()
        options = ColourOptions(args.colormap or base.colormap, args.scale or base.scale,
                                base.alpha if args.alpha is None else args.alpha)
    if args.screenshot:
        return run_screenshot(args, options or ColourOptions())  # not the saved options
    app = application()
    from .window import MainWindow  # pyqtgraph.opengl needs the QApplication first

    window = MainWindow(engine=args.engine, options=options)
    model = args.model or window.settings.value("model", "")
    if not (model and (args.model or Path(model).is_dir())):
        model = _demo_model()  # a first start: the model that ships with deepbrain
    if model:
        window.load_model(model, remember=bool(args.model))
    window.show()
    if args.layers and window.model is not None:
        show_layers(window, args.layers)
    if args.wav:
        if args.frame:
            def first_frame():
                window.result_shown.disconnect(first_frame)
                window.show_frame(args.frame)
            window.result_shown.connect(first_frame)
        window.load_wav(args.wav)
    return app.exec_()


def show_layers(window, layers) -> None:
    from ..pipeline import check_layers

    check_layers(layers, window.model)
    missing = [k for k in layers if k not in window.model.maps]
    if missing:
        raise DeepbrainError(f"--layers: no map for layer(s) {', '.join(map(str, missing))}; "
                             f"{window.model.path} has maps for "
                             f"{', '.join(map(str, sorted(window.model.maps)))}")
    window.set_shown_layers(list(layers))


def run_screenshot(args, options: ColourOptions) -> int:
    """``--screenshot``: everything that can be checked is, before the window exists."""
    from .screenshot import PngFile, check_size, parse_size, screenshot

    if not args.wav:
        raise DeepbrainError("--screenshot needs --wav FILE")
    if not args.model:
        args.model = str(demo_model_dir())
    size = parse_size(args.size)
    with PngFile(args.screenshot, force=args.force) as png:
        app = application()
        check_size(size)
        from .window import MainWindow  # pyqtgraph.opengl needs the QApplication first

        window = MainWindow(engine=args.engine, options=options, remember=False)
        try:
            return screenshot(app, window, args, png, size)
        finally:  # deleted now, not whenever Python collects it (maybe mid-paint)
            window.close()
            window.deleteLater()
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)


def _demo_model() -> str:
    try:
        return str(demo_model_dir())
    except DeepbrainError:
        return ""


def raise_errors(title: str, error) -> None:
    """A window's show_error for --screenshot: errors go to the CLI, not into dialogs."""
    if isinstance(error, DeepbrainError):
        raise error
    raise DeepbrainError(f"{title}: {error}")
