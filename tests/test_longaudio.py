"""Long audio for the window: a wav read once in pieces, then any frames computed on demand,
equal to the whole utterance's; blocks kept around the playhead within a budget; saved
activations read a few rows at a time; and what goes wrong (a file cut while read, cancel)."""

import json
import os
import subprocess
import sys
from types import MappingProxyType

import numpy as np
import pytest

from deepbrain.artefacts import Activations, Chunk, freeze_layers
from deepbrain.audio import read_wav
from deepbrain.cli import main
from deepbrain.errors import AudioError, Cancelled, FormatError
from deepbrain.framecache import FrameCache, HeldFrames, bytes_per_frame
from deepbrain.longaudio import estimated_frames, is_long, open_long, read_pieces
from deepbrain.model import load_model
from deepbrain.overview import overview_of
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs
from deepbrain.savedacts import SavedFrames
from deepbrain.wavfile import WavReader
from support import ROOT, speechlike, wav_bytes, write_tiny_model


@pytest.fixture
def demo():
    return load_model(ROOT / "models" / "demo")


def write_wav(path, seconds, seed=0):
    path.write_bytes(wav_bytes(speechlike(seconds, seed=seed)))
    return path


def whole(model, wav, layers, output=True):
    return next(iter(compute_activations(utterances_from_wavs([wav]), model,
                                         Request(tuple(layers), output=output), "numpy")))


def test_frames_on_demand_equal_the_whole_utterance(demo, tmp_path):
    wav = write_wav(tmp_path / "talk.wav", 9.0)
    want = whole(demo, wav, (1, 3, 5))
    opened, frames = open_long(demo, wav, (1, 3, 5), output=True)
    assert frames.num_frames == want.num_frames == 898 and frames.utt_id == "talk"
    assert dict(frames.dims) == {1: 512, 3: 512, 5: 512} and frames.output_dim == 39
    for a, b in ((0, 1), (0, 128), (500, 628), (880, 898), (897, 898), (3, 700)):
        got = frames.compute(a, b)
        for k in (1, 3, 5):
            np.testing.assert_allclose(got.layers[k], want.layers[k][a:b], rtol=1e-5,
                                       atol=1e-6)
        np.testing.assert_allclose(got.output, want.output[a:b], rtol=1e-5, atol=1e-7)


def test_the_pass_keeps_the_samples_and_their_overview(demo, tmp_path):
    wav = write_wav(tmp_path / "talk.wav", 5.0, seed=2)
    progress = []
    opened, extracted = read_pieces(demo, wav, progress.append)
    audio = read_wav(wav)
    assert opened.samples.dtype == np.int16 and opened.rate == 16000
    assert np.array_equal(opened.samples, audio.samples.astype(np.int16))
    o = overview_of(audio.samples, 16000)
    assert np.array_equal(opened.overview.y, o.y) and np.array_equal(opened.overview.db, o.db)
    assert progress[-1].done == progress[-1].total == 80000 and progress[-1].stage == "mfcc"
    assert extracted.num_frames == estimated_frames(demo, wav) == 498


def test_a_resampled_wav_is_opened_at_the_models_rate(demo, tmp_path):
    wav = tmp_path / "cd.wav"
    wav.write_bytes(wav_bytes(speechlike(2.0, rate=44100), rate=44100))
    opened, frames = open_long(demo, wav, (2,), output=False)
    assert opened.rate == 16000 and abs(opened.duration - 2.0) < 1e-3
    want = next(iter(compute_activations(utterances_from_wavs([wav]), demo,
                                         Request((2,), resample=True), "numpy")))
    assert frames.num_frames == want.num_frames == estimated_frames(demo, wav)
    np.testing.assert_allclose(frames.compute(60, 90).layers[2], want.layers[2][60:90],
                               rtol=1e-5, atol=1e-6)


def test_which_wavs_are_long(demo, tmp_path):
    wav = write_wav(tmp_path / "a.wav", 3.0)
    dims = {k: 512 for k in range(1, 6)}
    per = bytes_per_frame(dims, 39)
    assert per == 4 * (5 * 512 + 39)
    assert not is_long(demo, wav, dims, 39)
    assert is_long(demo, wav, dims, 39, limit=298 * per - 1)
    assert not is_long(demo, wav, dims, 39, limit=298 * per)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    assert not is_long(demo, bad, dims, 39)       # computing it whole says what is wrong


def test_cancel_during_the_pass(demo, tmp_path):
    wav = write_wav(tmp_path / "talk.wav", 12.0)
    seen = []

    def cancel():
        return len(seen) > 0

    with pytest.raises(Cancelled):
        read_pieces(demo, wav, seen.append, cancel)
    assert len(seen) == 1


def test_a_wav_cut_while_it_is_read(demo, tmp_path, monkeypatch):
    wav = write_wav(tmp_path / "talk.wav", 12.0)
    original = WavReader.pieces

    def cutting(self, *a, **kw):
        for i, piece in enumerate(original(self, *a, **kw)):
            if i == 0:
                os.truncate(wav, 50000)
            yield piece
    monkeypatch.setattr(WavReader, "pieces", cutting)
    with pytest.raises(AudioError, match="ended while it was read"):
        open_long(demo, wav, (1,), output=False)


# -- the cache -------------------------------------------------------------------------------

def chunk(a, b, units=(3, 2), out=4):
    t = np.arange(a, b, dtype=np.float32)[:, None]
    layers = {k: t * 10 + k + np.arange(u, dtype=np.float32) / 100 for k, u in
              zip((1, 2), units)}
    return Chunk("u", a, 1000, MappingProxyType(layers),
                 t + np.zeros(out, np.float32) if out else None)


def test_cache_keeps_any_ranges_and_says_what_is_missing():
    cache = FrameCache({1: 3, 2: 2}, 4, 1000, block=100)
    cache.put(chunk(50, 230))
    cache.put(chunk(400, 401))
    for i in (50, 99, 100, 229, 400):
        rows = cache.rows(i)
        assert rows[1][0] == i * 10 + 1 and rows[2][1] == i * 10 + 2.01
    for i in (0, 49, 230, 399, 401, 999, -1, 1000):
        assert cache.rows(i) is None and not cache.has(i)
    assert cache.missing(0, 1000) == [(0, 50), (230, 300)] + [(300, 400), (401, 500)] + \
        [(s, s + 100) for s in range(500, 1000, 100)]
    assert cache.missing(60, 220) == [] and cache.missing(990, 5000) == [(990, 1000)]
    assert cache.ranges[1] == pytest.approx((501.0, 4001.02))
    got = sorted((c.start, c.rows) for c in cache.chunks())
    assert got == [(50, 50), (100, 100), (200, 30), (400, 1)]


def test_cache_drops_the_blocks_farthest_from_the_playhead():
    per_block = 100 * bytes_per_frame({1: 3, 2: 2}, 4)
    cache = FrameCache({1: 3, 2: 2}, 4, 1000, budget=3 * per_block, block=100)
    for a in range(0, 1000, 100):
        cache.put(chunk(a, a + 100))
    assert cache.nbytes == 10 * per_block
    assert cache.evict(450, 560) == 7
    assert sorted(cache.blocks) == [4, 5, 6]     # 400..600 hold 450..560; 600.. is nearest
    assert cache.has(450) and not cache.has(250)


def test_cache_of_a_whole_utterance_holds_it_as_it_is():
    layers = {1: np.arange(12, dtype=np.float32).reshape(4, 3)}
    acts = Activations("u", freeze_layers(layers), None, 0.01, "numpy")
    cache = FrameCache.holding(HeldFrames(acts))
    assert cache.rows(2)[1] is not None and np.shares_memory(cache.rows(2)[1], layers[1])
    assert cache.missing(0, 4) == [] and cache.nbytes == 0 and cache.ranges[1] == (0.0, 11.0)


# -- saved activations -----------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    from scipy.spatial import Delaunay

    from deepbrain.layermap import LayerMap, write_layer_map

    model_dir = write_tiny_model(tmp_path / "model")
    rng = np.random.default_rng(0)
    for k, units in ((1, 32), (2, 24)):
        pts = rng.random((units, 2))
        write_layer_map(LayerMap(k, pts, Delaunay(pts).simplices.astype(np.int64)),
                        model_dir / "lda" / str(k))
    wav = write_wav(tmp_path / "speech.wav", 4.0)
    out = tmp_path / "acts"
    assert main(["activations", str(wav), "--model", str(model_dir), "--out", str(out),
                 "--engine", "numpy", "--output", "-q"]) == 0
    return load_model(model_dir), out, wav


def test_saved_rows_are_read_as_needed(saved):
    model, out, wav = saved
    want = whole(model, wav, (1, 2))
    frames = SavedFrames(out, "speech", model, want.num_frames)
    assert dict(frames.dims) == {1: 32, 2: 24} and frames.output_dim == 10
    got = frames.compute(100, 228)
    for k in (1, 2):
        assert np.array_equal(got.layers[k], want.layers[k][100:228])
    assert np.array_equal(got.output, want.output[100:228])


def test_saved_rows_of_an_ark_cut_while_open(saved):
    model, out, wav = saved
    n = estimated_frames(model, wav)
    frames = SavedFrames(out, "speech", model, n)
    ark = out / "layer1.ark"
    os.truncate(ark, ark.stat().st_size // 2)
    with pytest.raises(FormatError, match="cut or rewritten while open"):
        frames.compute(n - 10, n)
    assert frames.compute(0, 5).rows == 5                # the part still there is read


def test_saved_rows_refuse_what_cannot_be_read_in_rows(saved, tmp_path):
    import kaldiio

    model, out, wav = saved
    n = estimated_frames(model, wav)
    with pytest.raises(FormatError, match="frames, the wav gives"):
        SavedFrames(out, "speech", model, n + 1)
    m = np.zeros((n, 32), np.float32)
    kaldiio.save_ark(str(out / "layer1.ark"), {"speech": m}, scp=str(out / "layer1.scp"),
                     text=True)
    with pytest.raises(FormatError, match="compression or as text"):
        SavedFrames(out, "speech", model, n)


# -- memory ----------------------------------------------------------------------------------

PROBE = r"""
def peak_mb():  # this process's own peak: VmHWM starts anew at exec, unlike
    # ru_maxrss, which keeps the RSS of the (v)forking parent, e.g. a big pytest
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
import json, resource, sys, time, wave
import numpy as np
sys.path.insert(0, sys.argv[3])
from support import speechlike
from deepbrain.framecache import FrameCache
from deepbrain.longaudio import open_long
from deepbrain.model import load_model

path, seconds = sys.argv[1], float(sys.argv[2])
with wave.open(path, "wb") as w:                    # written a minute at a time
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    for m in range(int(seconds // 60)):
        w.writeframes(speechlike(60.0, seed=m).astype("<i2").tobytes())
model = load_model(sys.argv[4])
layers = tuple(sorted(model.maps))
t0 = time.perf_counter()
opened, frames = open_long(model, path, layers, output=True)
opened_s = time.perf_counter() - t0
cache = FrameCache(frames.dims, frames.output_dim, frames.num_frames)
n = frames.num_frames
for centre in (0, n // 2, n - 1, n // 4, 3 * n // 4):
    for a, b in cache.missing(centre - 1000, centre + 3000):
        cache.put(frames.compute(a, b))
    cache.evict(centre - 1000, centre + 3000)
print(json.dumps({"frames": n, "open_s": opened_s, "cache_mb": cache.nbytes / 2**20,
                  "peak_mb": peak_mb()}))
"""


@pytest.mark.slow
def test_twenty_minutes_open_and_compute_in_flat_memory(tmp_path):
    """20 minutes through the demo model: 1.25 GB of activations computed in blocks around
    five playheads in a budget of 96 MB; the process peaks far below the activations."""
    r = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "long.wav"), "1200",
                        str(ROOT / "tests"), str(ROOT / "models" / "demo")],
                       capture_output=True, text=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "app")})
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["frames"] == 119998
    assert got["cache_mb"] <= 96
    print(got)
    assert got["peak_mb"] < 450, got      # the samples (37 MB) + features + cache + numpy
