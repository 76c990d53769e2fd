"""Recording: where files go, unique names that never overwrite, sources, levels."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from deepbrain.audio import Audio, read_wav
from deepbrain.errors import AudioError
from deepbrain.recording import (SILENCE_DB, ArraySource, Recorder, claim_recording_path,
                                 level_db, recordings_dir, save_recording, user_data_dir)
from support import speechlike

WHEN = datetime(2024, 5, 17, 9, 30, 5)


def test_user_data_dir_follows_xdg_and_platforms(tmp_path):
    assert recordings_dir({"XDG_DATA_HOME": str(tmp_path), "HOME": "/home/u"}) == \
        tmp_path / "deepbrain" / "recordings"
    assert user_data_dir({"HOME": "/home/u"}, "linux") == Path("/home/u/.local/share/deepbrain")
    # a relative XDG_DATA_HOME is invalid by the spec and ignored
    assert user_data_dir({"XDG_DATA_HOME": "rel", "HOME": "/home/u"}, "linux") == \
        Path("/home/u/.local/share/deepbrain")
    assert user_data_dir({"HOME": "/Users/u"}, "darwin") == \
        Path("/Users/u/Library/Application Support/deepbrain")
    assert user_data_dir({"APPDATA": "C:/AppData", "HOME": "C:/u"}, "win32") == \
        Path("C:/AppData/deepbrain")


def test_names_are_unique_and_nothing_is_overwritten(tmp_path):
    d = tmp_path / "rec"
    first = claim_recording_path(d, WHEN)
    assert first.name == "rec-20240517-093005.wav" and first.exists()
    first.write_bytes(b"precious")
    second = claim_recording_path(d, WHEN)
    third = claim_recording_path(d, WHEN)
    assert (second.name, third.name) == ("rec-20240517-093005-2.wav", "rec-20240517-093005-3.wav")
    assert first.read_bytes() == b"precious"


def test_save_recording_writes_the_samples(tmp_path):
    x = speechlike(0.5).astype(np.float32)
    p1 = save_recording(Audio(x, 16000, "mic", False), tmp_path, WHEN)
    p2 = save_recording(Audio(x[:100], 16000, "mic", False), tmp_path, WHEN)
    assert p1 != p2
    back = read_wav(p1)
    assert back.sample_rate == 16000 and np.array_equal(back.samples, x)
    assert read_wav(p2).samples.shape[0] == 100


def test_unwritable_folder_is_an_audio_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AudioError, match="cannot create the recordings folder"):
        claim_recording_path(blocker / "sub", WHEN)


def test_recorder_collects_chunks_and_levels():
    speech = speechlike(1.0)
    rec = Recorder(ArraySource(speech, 16000, chunk=1600), 16000)
    rec.start()
    levels = [rec.poll() for _ in range(12)]         # more polls than chunks: fine
    audio = rec.stop("mic")
    assert np.array_equal(audio.samples, speech.astype(np.float32))
    assert audio.sample_rate == 16000 and rec.seconds == pytest.approx(1.0)
    assert -40 < max(levels) < 0 and rec.peak == int(np.abs(speech.astype(int)).max())


def test_real_time_source_delivers_by_the_clock():
    t = [0.0]
    src = ArraySource(np.arange(16000, dtype=np.int16), 16000, clock=lambda: t[0])
    src.start(16000)
    assert src.read().shape[0] == 0
    t[0] = 0.25
    assert src.read().shape[0] == 4000
    t[0] = 9.0
    assert src.read().shape[0] == 12000
    with pytest.raises(AudioError, match="44100 Hz was asked for"):
        src.start(44100)


def test_level_db():
    assert level_db(np.zeros(0, np.int16)) == SILENCE_DB
    assert level_db(np.zeros(100, np.int16)) == SILENCE_DB
    sine = (32767 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.int16)
    assert level_db(sine) == pytest.approx(-3.01, abs=0.05)


ASOUNDRC = """
pcm.!default {{ type plug slave.pcm "deepbrain_test" }}
pcm.deepbrain_test {{ type asym capture.pcm "deepbrain_in" playback.pcm "deepbrain_out" }}
pcm.deepbrain_in {{ type file slave.pcm "deepbrain_null" file "/dev/null" infile "{inp}"
                   format "raw" }}
pcm.deepbrain_out {{ type file slave.pcm "deepbrain_null" file "{out}" format "raw" }}
pcm.deepbrain_null {{ type null }}
"""

PORTAUDIO_SCRIPT = """
import sys, time
import numpy as np
from deepbrain.playback import PlaybackStream, PyAudioSink
from deepbrain.recording import PyAudioSource, Recorder

rec = Recorder(PyAudioSource(), 16000)
rec.start()
while rec.num_samples < 32000:
    time.sleep(0.02)
    rec.poll()
np.save(sys.argv[1], rec.stop().samples[:32000])
sink = PyAudioSink()
sink.start(PlaybackStream(np.arange(-8000, 8000, dtype=np.float32), 16000))
t = time.monotonic()
while sink.played() < 16000 and time.monotonic() - t < 10:
    time.sleep(0.02)
sink.close()
print("ok")
"""


def test_portaudio_source_and_sink_through_an_alsa_file_device(tmp_path):
    """The real PyAudio classes against ALSA's file plugin (no sound card): the capture
    device reads a raw file, the playback device writes one. (The null device under them
    keeps no time, so this checks the samples, not the clock.)"""
    pytest.importorskip("pyaudio")
    import os
    import subprocess
    import sys

    tone = (8000 * np.sin(np.arange(48000) * 2 * np.pi * 440 / 16000)).astype("<i2")
    (tmp_path / "in.raw").write_bytes(tone.tobytes())
    (tmp_path / "alsa").mkdir()
    (tmp_path / "alsa" / "asoundrc").write_text(
        ASOUNDRC.format(inp=tmp_path / "in.raw", out=tmp_path / "out.raw"))
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path), ALSA_CONFIG_PATH="")
    env.pop("ALSA_CONFIG_PATH")
    r = subprocess.run([sys.executable, "-c", PORTAUDIO_SCRIPT, str(tmp_path / "rec.npy")],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "no microphone" in r.stderr:
        pytest.skip("this ALSA does not read $XDG_CONFIG_HOME/alsa/asoundrc")
    assert r.returncode == 0, r.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "rec.npy"), tone[:32000].astype(np.float32))
    played = np.frombuffer((tmp_path / "out.raw").read_bytes(), "<i2")
    start = int(np.argmax(played == -8000))    # after the silence PortAudio primes with
    assert not np.any(played[:start])
    heard = played[start:start + 16000]
    assert heard.shape[0] >= 8000 and np.array_equal(heard, np.arange(-8000, 8000)[:len(heard)])
