"""``deepbrain gui``: the application object, its look, and the --screenshot mode."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Sequence

from PyQt5 import QtCore, QtGui, QtWidgets

from ..colouring import ColourOptions
from ..errors import DeepbrainError
from ..export import check_output, parse_size
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


def parse_pins(texts: Sequence[str]) -> list[tuple[int, int]]:
    """``--pin LAYER:UNIT`` values (1-based) as (layer, unit) pairs."""
    pins = []
    for text in texts:
        try:
            layer, unit = (int(v) for v in text.split(":"))
        except ValueError:
            raise DeepbrainError(f"--pin: expected LAYER:UNIT like 3:117, got {text[:40]!r}") \
                from None
        if layer < 1 or unit < 1:
            raise DeepbrainError(f"--pin {text}: layers and units are numbered from 1")
        pins.append((layer, unit))
    return pins


def run(args) -> int:
    """``deepbrain gui``: interactive, or render one state to a PNG (--screenshot) or the
    utterance to an MP4 (--video) and exit."""
    check_display()
    pins = parse_pins(args.pin)
    headless = bool(args.screenshot or args.video)
    if args.screenshot and args.video:
        raise DeepbrainError("--screenshot and --video: one at a time")
    if args.video:  # refuse before any work
        check_output(args.video, args.force, "--video")
    if (args.acts or args.text or args.phones) and not args.wav:
        raise DeepbrainError("--acts, --text and --phones go with --wav")
    options = None  # the options saved from the last run
    if args.colormap or args.scale or args.alpha is not None:
        base = ColourOptions()
        options = ColourOptions(args.colormap or base.colormap, args.scale or base.scale,
                                base.alpha if args.alpha is None else args.alpha)
    if headless and options is None:
        options = ColourOptions()  # reproducible: not the options saved from the last run
    if headless:
        return run_headless(args, options, pins)
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
    insight = window.insight
    if args.phones:
        insight.phones_file = Path(args.phones)
    if args.text:
        insight.pending_text = args.text
    if args.wav:
        def first_shown():
            window.result_shown.disconnect(first_shown)
            if args.frame:
                window.show_frame(args.frame)
            QtCore.QTimer.singleShot(0, lambda: apply_views(window, args, pins))
        window.result_shown.connect(first_shown)
        if args.acts:
            try:
                window.show_saved(args.acts, args.wav)
            except DeepbrainError as e:
                window.show_error("Cannot show the saved activations", e)
        else:
            window.load_wav(args.wav)
    return app.exec_()


def apply_views(window, args, pins) -> None:
    """--regions, --by-phone and --pin, once the utterance is shown."""
    insight = window.insight
    if args.regions:
        insight.set_regions(True)
    if args.by_phone:
        insight.set_by_phone(True)
    for layer, unit in pins:
        mapped = window.model.maps.get(layer)
        if mapped is None or unit > mapped.num_units:
            insight._report("--pin", DeepbrainError(
                f"--pin {layer}:{unit}: {window.model.path} has "
                + (f"{mapped.num_units} units in layer {layer}" if mapped else
                   f"no map for layer {layer}")))
            continue
        insight.pin(layer, unit - 1)


def show_layers(window, layers) -> None:
    from ..pipeline import check_layers

    layers = check_layers(layers, window.model)
    missing = [k for k in layers if k not in window.model.maps]
    if missing:
        raise DeepbrainError(f"--layers: no map for layer(s) {', '.join(map(str, missing))}; "
                             f"{window.model.path} has maps for "
                             f"{', '.join(map(str, sorted(window.model.maps)))}")
    window.set_shown_layers(list(layers))


def run_headless(args, options: ColourOptions, pins) -> int:
    """--screenshot or --video: everything that can be checked is, before the window
    exists; the picture goes to a temporary file renamed into place (gui.screenshot)."""
    from .screenshot import PngFile, check_gl_size

    if not args.wav:
        raise DeepbrainError(f"{'--screenshot' if args.screenshot else '--video'} needs "
                             f"--wav FILE")
    if not args.model:
        args.model = str(demo_model_dir())
    size = parse_size(args.size)
    with contextlib.ExitStack() as stack:
        png = stack.enter_context(PngFile(args.screenshot, force=args.force)) \
            if args.screenshot else None
        app = application()
        check_gl_size(size)
        from .window import MainWindow  # pyqtgraph.opengl needs the QApplication first

        window = MainWindow(engine=args.engine, options=options, remember=False)
        try:
            return render(app, window, args, pins, size, png)
        finally:  # deleted now, not whenever Python collects it (maybe mid-paint)
            window.close()
            window.deleteLater()
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)


def render(app: QtWidgets.QApplication, window, args, pins, size: tuple[int, int],
           png) -> int:
    """The state the arguments describe, rendered to ``png`` or to --video; errors raised."""
    window.show_error = raise_errors  # errors go to the CLI instead of into dialogs
    insight = window.insight
    insight.strict = True
    window.resize(*size)
    if not window.load_model(args.model, remember=False):
        return 4
    window.show()
    if args.layers:
        show_layers(window, args.layers)
    insight.phones_file = Path(args.phones) if args.phones else None
    insight.pending_text = args.text
    if args.acts:
        window.show_saved(args.acts, args.wav)
    else:
        window.process_now(args.wav)
    window.feed.sync = True       # a long utterance's frames computed as they are drawn
    insight.raise_errors()
    frames = window.colours.num_frames
    if not 0 <= args.frame < frames:
        raise DeepbrainError(f"--frame {args.frame}: the utterance has frames 0..{frames - 1}")
    apply_views(window, args, pins)
    insight.raise_errors()
    if args.video:
        window.insight.exporter.save_video(args.video, size, force=args.force)
        return 0
    window.show_frame(args.frame)
    for _ in range(10):
        app.processEvents()
    png.write(window.render_image())
    return 0


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
