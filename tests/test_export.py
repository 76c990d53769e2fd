"""Export without Qt: sizes, outputs that never half-exist, .npz, and the MP4 through
ffmpeg (H.264 + AAC, as long as the sound)."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from deepbrain import video
from deepbrain.audio import Audio
from deepbrain.errors import Cancelled, DeepbrainError, OutputExistsError
from deepbrain.export import atomic_path, parse_size, save_activations_npz
from deepbrain.pipeline import Activations, freeze_layers

needs_ffmpeg = pytest.mark.skipif(video.find_ffmpeg() is None or shutil.which("ffprobe") is None,
                                  reason="needs ffmpeg and ffprobe (apt-get install ffmpeg)")


@pytest.mark.parametrize("text,message", [
    ("1280", "expected WIDTHxHEIGHT"), ("axb", "expected WIDTHxHEIGHT"),
    ("100x100", "outside 320x240"), ("100000x100000", "outside"), ("-640x480", "outside"),
    ("1e9x2", "expected WIDTHxHEIGHT"), ("\udcff\udcfex1", "expected WIDTHxHEIGHT"),
])
def test_bad_sizes(text, message):
    with pytest.raises(DeepbrainError, match=message):
        parse_size(text)


def test_sizes():
    assert parse_size("1920X1080") == (1920, 1080) and parse_size("7680x4320") == (7680, 4320)


def acts():
    rng = np.random.default_rng(0)
    return Activations("u1", freeze_layers({1: rng.random((5, 3), np.float32),
                                            3: rng.random((5, 2), np.float32)}),
                       rng.random((5, 4), np.float32), 0.01, "numpy")


def test_npz_holds_every_layer_and_refuses_to_overwrite(tmp_path):
    a = acts()
    out = tmp_path / "odd name \u00e9 -x.npz"
    assert save_activations_npz(a, out) == out
    with np.load(out) as z:
        assert sorted(z.files) == ["frame_shift", "layer1", "layer3", "output", "utt_id"]
        assert np.array_equal(z["layer3"], a.layers[3]) and str(z["utt_id"]) == "u1"
    with pytest.raises(OutputExistsError, match="exists; pass --force"):
        save_activations_npz(a, out)
    save_activations_npz(a, out, force=True)
    with pytest.raises(OutputExistsError, match="is a directory"):
        save_activations_npz(a, tmp_path)
    with pytest.raises(DeepbrainError, match="no such folder"):
        save_activations_npz(a, tmp_path / "none" / "x.npz")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]   # no temporary left


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "format=duration:stream=codec_type,codec_name,duration", "-of", "json",
                        str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def tone(seconds=3.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return Audio((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.float32), rate, "tone")


@needs_ffmpeg
def test_a_video_is_h264_and_aac_as_long_as_the_sound(tmp_path):
    audio = tone(3.0)
    times = []

    def render(t):
        times.append(t)
        return np.full((240, 321, 3), int(t * 80) % 256, np.uint8)   # odd width: padded
    seen = []
    out = video.make_video(render, audio, tmp_path / "-clip (1).mp4", (321, 240),
                           progress=seen.append)
    info = probe(out)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert kinds == {"video": "h264", "audio": "aac"}
    assert abs(float(info["format"]["duration"]) - 3.0) < 0.05
    assert len(times) == 90 and times[1] == pytest.approx(1 / 30)
    assert seen[-1].done == seen[-1].total == 90
    assert sorted(p.name for p in tmp_path.iterdir()) == ["-clip (1).mp4"]
    with pytest.raises(OutputExistsError):
        video.make_video(render, audio, out, (321, 240))


@needs_ffmpeg
def test_cancel_and_failures_leave_nothing(tmp_path, monkeypatch):
    audio = tone(1.0)
    frame = np.zeros((240, 320, 3), np.uint8)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5
    with pytest.raises(Cancelled):
        video.make_video(lambda t: frame, audio, tmp_path / "c.mp4", (320, 240), cancel=cancel)
    with pytest.raises(ValueError):               # a wrong frame is the caller's bug
        video.make_video(lambda t: frame[:10], audio, tmp_path / "c.mp4", (320, 240))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(video, "find_ffmpeg", lambda: None)
    with pytest.raises(video.FfmpegError, match="apt-get install ffmpeg") as e:
        video.make_video(lambda t: frame, audio, tmp_path / "c.mp4", (320, 240))
    assert e.value.exit_code == 11


@needs_ffmpeg
def test_ffmpeg_failing_is_its_message(tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    fake.chmod(0o755)
    writer = video.VideoWriter(tmp_path / "v.mp4", (320, 240), tone(0.2), ffmpeg=str(fake))
    with pytest.raises(video.FfmpegError, match="Unknown encoder libx264"):
        for _ in range(200):
            writer.write(np.zeros((240, 320, 3), np.uint8))
        writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ffmpeg"]


def test_the_imageio_ffmpeg_wheel_serves_without_debians(tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    if shutil.which("ffprobe") is None:
        pytest.skip("needs ffprobe to check the video")
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    exe = video.find_ffmpeg()
    assert "imageio_ffmpeg" in exe
    out = video.make_video(lambda t: np.zeros((240, 320, 3), np.uint8), tone(1.0),
                           tmp_path / "w.mp4", (320, 240))
    monkeypatch.undo()
    info = probe(out)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert abs(float(info["format"]["duration"]) - 1.0) < 0.05
