"""The house's shape: the core imports no Qt and no sound library."""

import subprocess
import sys

CORE = ["deepbrain", "deepbrain.cli", "deepbrain.pipeline", "deepbrain.engines.numpy_engine",
        "deepbrain.engines.kaldi_engine", "deepbrain.results", "deepbrain.model",
        "deepbrain.live", "deepbrain.longaudio", "deepbrain.framecache",
        "deepbrain.framesummary", "deepbrain.overview", "deepbrain.savedacts"]


def test_core_imports_without_qt_or_audio_libraries():
    code = ("import sys\n"
            "for m in ('PyQt5', 'pyqtgraph', 'OpenGL', 'pyaudio'): sys.modules[m] = None\n"
            + "".join(f"import {m}\n" for m in CORE)
            + "from deepbrain.cli import main\n"
            "assert main(['--version']) == 0\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "deepbrain 0.1.0" in r.stdout, r.stderr
