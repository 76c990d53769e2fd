"""``deepbrain gui`` with the insight options, end to end in a subprocess as a user runs it:
--video, --acts, --phones, --text, --regions, --pin, and their errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")

from deepbrain.video import find_ffmpeg  # noqa: E402
from guisupport import needs_display, write_speech_wav  # noqa: E402
from insightsupport import write_insight_model, write_lane_ctm  # noqa: E402
from support import speechlike, wav_bytes  # noqa: E402

pytestmark = [pytest.mark.gui, needs_display]
APP = Path(__file__).resolve().parents[2] / "app"
needs_ffmpeg = pytest.mark.skipif(find_ffmpeg() is None or shutil.which("ffprobe") is None,
                                  reason="needs ffmpeg and ffprobe (apt-get install ffmpeg)")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("insight")
    model = write_insight_model(d / "model", psi_png=False)
    wav = write_speech_wav(d / "clip.wav", seconds=3.0)
    return model, wav


def run(tmp_path, *args, prelude: str = ""):
    """``deepbrain ARGS`` in a fresh Python (QSettings under tmp_path): (code, stderr)."""
    runtime = tmp_path / "runtime"     # Qt warns on stderr without one
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_RUNTIME_DIR=str(runtime),
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    code = f"{prelude}\nimport sys\nfrom deepbrain.cli import main\nsys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, *map(os.fsdecode, args)], env=env,
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stderr


def probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "format=duration:stream=codec_type,codec_name,width,height", "-of",
                        "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


@needs_ffmpeg
def test_a_3s_clip_renders_to_an_mp4_as_long_as_the_wav(files, tmp_path):
    model, wav = files
    ctm = tmp_path / "p.ctm"
    write_lane_ctm(ctm, "clip", 298)
    out = tmp_path / "odd -name (1).mp4"
    code, err = run(tmp_path, "gui", "--model", model, "--wav", wav, "--phones", ctm,
                    "--regions", "--pin", "1:4", "--video", out, "--size", "640x400",
                    "--engine", "numpy")
    assert code == 0, err
    info = probe(out)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 400)
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.05
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mp4") == [out.name]
    # an existing video is replaced only with --force, and refused before any work
    code, err = run(tmp_path, "gui", "--model", model, "--wav", wav, "--video", out)
    assert code == 5 and "exists; pass --force" in err and len(err.strip().splitlines()) == 1


@needs_ffmpeg
def test_a_48k_real_voice_keeps_its_duration(files, tmp_path):
    model, _ = files
    voice = Path("/usr/share/sounds/alsa/Front_Center.wav")
    if not voice.is_file():
        x = speechlike(1.4, rate=48000, seed=3)
        voice = tmp_path / "front.wav"
        voice.write_bytes(wav_bytes(x, rate=48000))
    import wave
    with wave.open(str(voice)) as f:
        seconds = f.getnframes() / f.getframerate()
    out = tmp_path / "voice.mp4"
    code, err = run(tmp_path, "gui", "--model", model, "--wav", voice, "--video", out,
                    "--size", "480x320", "--engine", "numpy")
    assert code == 0, err
    assert abs(float(probe(out)["format"]["duration"]) - seconds) < 0.05


def test_saved_activations_show_as_the_computed_ones(files, tmp_path):
    model, wav = files
    acts = tmp_path / "acts"
    code, err = run(tmp_path, "activations", wav, "--model", model, "--out", acts, "--engine",
                    "numpy", "--output", "-q")
    assert code == 0, err
    a, b = tmp_path / "computed.png", tmp_path / "saved.png"
    common = ["gui", "--model", model, "--wav", wav, "--frame", "120", "--size", "800x560"]
    assert run(tmp_path, *common, "--screenshot", a, "--engine", "numpy")[0] == 0
    # poison the engines: --acts must not compute anything
    prelude = ("import deepbrain.pipeline as p\n"
               "def _no(*a, **k): raise SystemExit('computed although --acts was given')\n"
               "p.compute_activations = _no\n")
    code, err = run(tmp_path, *common, "--screenshot", b, "--acts", acts, prelude=prelude)
    assert code == 0, err
    from test_gui_cli import png_pixels
    pa, pb = png_pixels(a), png_pixels(b)
    # the same picture but for the status bar's engine name
    assert np.mean(np.any(pa[:-30] != pb[:-30], axis=2)) < 0.002


@pytest.mark.parametrize("case,code,message", [
    ("acts-missing", 4, "not a directory; --acts takes the folder"),
    ("acts-other-utt", 4, "has no utterance 'clip'"),
    ("phones-missing", 4, "no such phones file"),
    ("phones-nan", 4, "must be finite"),
    ("phones-other-wav", 4, "the wav has 298 frames"),
    ("text-no-aligner", 1, "--text: aligning a transcript needs the aligner"),
    ("text-empty", 1, "the transcript is empty"),
    ("pin-bad", 1, "--pin: expected LAYER:UNIT"),
    ("pin-range", 1, "--pin 1:99: .* has 32 units in layer 1"),
    ("size-huge", 1, "outside 320x240 .. 7680x4320"),
    ("video-dir", 5, "is a directory"),
    ("both", 1, "--screenshot and --video: one at a time"),
    ("acts-no-wav", 1, "go with --wav"),
    ("utf8-name", 4, "no such phones file"),
    ("no-tables", 1, "no units.csv, so no preferred phones"),
])
def test_bad_insight_options_are_one_line_and_a_code(files, tmp_path, case, code, message):
    model, wav = files
    out = tmp_path / "x.png"
    args = ["gui", "--model", model, "--wav", wav, "--screenshot", out, "--engine", "numpy"]
    prelude = ""
    if case == "acts-missing":
        args += ["--acts", tmp_path / "nowhere"]
    elif case == "acts-other-utt":
        assert run(tmp_path, "activations", write_speech_wav(tmp_path / "other.wav"),
                   "--model", model, "--out", tmp_path / "acts", "--engine", "numpy",
                   "-q")[0] == 0
        args += ["--acts", tmp_path / "acts"]
    elif case == "phones-missing":
        args += ["--phones", tmp_path / "none.ctm"]
    elif case == "phones-nan":
        (tmp_path / "p.ctm").write_text("clip 1 nan 0.2 aa\n")
        args += ["--phones", tmp_path / "p.ctm"]
    elif case == "phones-other-wav":
        write_lane_ctm(tmp_path / "p.ctm", "clip", 900)
        args += ["--phones", tmp_path / "p.ctm"]
    elif case == "text-no-aligner":
        prelude = "import sys; sys.modules['deepbrain.align'] = None"
        args += ["--text", "hello there"]
    elif case == "text-empty":
        prelude = ("import sys, types; m = types.ModuleType('deepbrain.align'); "
                   "m.why_unavailable = lambda: None; sys.modules['deepbrain.align'] = m")
        args += ["--text", "  "]
    elif case == "pin-bad":
        args += ["--pin", "three"]
    elif case == "pin-range":
        args += ["--pin", "1:99"]
    elif case == "size-huge":
        args = [a for a in args if a not in ("--screenshot", out)] + \
            ["--video", tmp_path / "v.mp4", "--size", "100000x9"]
    elif case == "video-dir":
        args = [a for a in args if a not in ("--screenshot", out)] + ["--video", tmp_path]
    elif case == "both":
        args += ["--video", tmp_path / "v.mp4"]
    elif case == "acts-no-wav":
        args = ["gui", "--model", model, "--acts", tmp_path, "--screenshot", out]
    elif case == "no-tables":
        from guisupport import write_mapped_tiny_model
        plain = write_mapped_tiny_model(tmp_path / "plain")
        args = ["gui", "--model", plain, "--wav", wav, "--screenshot", out, "--by-phone",
                "--engine", "numpy"]
    elif case == "utf8-name":
        args += ["--phones", os.fsencode(tmp_path) + b"/ph\xff\xfeones.ctm"]
    got, err = run(tmp_path, *args, prelude=prelude)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and lines[0].startswith("deepbrain: error: "), err
    import re
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists() and not list(tmp_path.glob("*.mp4")) and \
        not list(tmp_path.glob(".*partial*"))


def test_a_transcript_aligned_in_a_headless_render(files, tmp_path):
    model, wav = files
    prelude = ("import sys, types\n"
               "from deepbrain.segments import PhoneSegment\n"
               "m = types.ModuleType('deepbrain.align')\n"
               "m.why_unavailable = lambda: None\n"
               "m.align_audio = lambda a, t, utt_id='': [PhoneSegment('sil', 0, 100), "
               "PhoneSegment('s', 100, 298)]\n"
               "sys.modules['deepbrain.align'] = m\n")
    out = tmp_path / "t.png"
    code, err = run(tmp_path, "gui", "--model", model, "--wav", wav, "--text", "s",
                    "--frame", "150", "--regions", "--screenshot", out, "--engine", "numpy",
                    prelude=prelude)
    assert code == 0, err
    assert out.stat().st_size > 1000
