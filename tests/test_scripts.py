"""scripts/: each one starts, imports what it needs from deepbrain and answers --help (two
benchmarks once drifted from API changes unseen: nothing ran them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def test_every_script_is_here():
    assert {p.name for p in SCRIPTS} >= {"bench.py", "bench_stream.py", "bench_gui.py",
                                          "bench_window.py", "make_demo_model.py",
                                          "real_speech.py", "vosk_picture.py",
                                          "bootstrap_pip.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_answers_help(script):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "app"),
                                                        os.environ.get("PYTHONPATH", "")]),
               QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                       env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("usage:"), r.stdout[:200]
