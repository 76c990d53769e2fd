"""Live: frames computed while the audio arrives equal the same frames computed at the end
(nothing is computed before its right context has arrived), and the live chain's online CMVN
is Kaldi's apply-cmvn-online where the model has it."""

import numpy as np

from support import ROOT, speechlike, write_tiny_model
from deepbrain.features import apply_cmvn_online
from deepbrain.live import LiveComputer
from deepbrain.model import load_model
from deepbrain.options import OnlineCmvnOptions


def feed(live, x, rng):
    pos = 0
    seen = {}
    while pos < x.size:
        n = int(rng.integers(50, 3000))
        live.accept(x[pos:pos + n])
        pos += n
        done = max(seen, default=-1) + 1
        if live.ready > done:
            c = live.compute(done, live.ready)
            for i in range(c.rows):
                seen[done + i] = {k: m[i] for k, m in c.layers.items()}
    return seen


def test_frames_computed_live_do_not_change_when_more_audio_arrives(tmp_path):
    for model in (load_model(ROOT / "models" / "demo"),
                  load_model(write_tiny_model(tmp_path / "m"))):
        x = speechlike(2.0).astype(np.float32)
        live = LiveComputer(model, (1, model.num_hidden))
        seen = feed(live, x, np.random.default_rng(0))
        assert "online CMVN" in live.description and "differ" in live.description
        live.finish()
        final = live.compute(0, live.ready)
        assert len(seen) == final.rows - live._computer.context[1]
        for t, layers in seen.items():
            for k, row in layers.items():
                # float32 sums taken over other row counts (the tiny net's weights are large)
                np.testing.assert_allclose(row, final.layers[k][t], rtol=1e-4, atol=1e-4)


def test_with_the_models_global_statistics_it_is_apply_cmvn_online(tmp_path):
    model = load_model(write_tiny_model(tmp_path / "m"))
    rng = np.random.default_rng(3)
    x = speechlike(3.0).astype(np.float32)
    opts = OnlineCmvnOptions(cmn_window=100, global_frames=50, speaker_frames=100)
    live = LiveComputer(model, (1,), options=opts)
    live.global_stats = np.array([[5.0] * 13 + [10.0], [30.0] * 13 + [0.0]])
    feed(live, x, rng)
    live.finish()
    want = apply_cmvn_online(live._feats, opts, live.global_stats)
    np.testing.assert_allclose(live._normed, want, rtol=1e-6, atol=1e-5)


def test_many_small_pieces_equal_one_piece(tmp_path):
    """The microphone's 10 ms pieces (buffers grown as frames come) give the frames one big
    piece gives."""
    model = load_model(ROOT / "models" / "demo")
    x = speechlike(12.0, seed=5).astype(np.float32)
    small, big = LiveComputer(model, (1, 5)), LiveComputer(model, (1, 5))
    for pos in range(0, x.size, 160):
        small.accept(x[pos:pos + 160])
    big.accept(x)
    assert small.num_frames == big.num_frames == 1198
    np.testing.assert_array_equal(small._feats, big._feats)
    np.testing.assert_allclose(small._normed, big._normed, rtol=1e-6, atol=1e-5)
    a, b = small.compute(300, 1100), big.compute(300, 1100)
    for k in (1, 5):
        np.testing.assert_allclose(a.layers[k], b.layers[k], rtol=1e-5, atol=1e-6)
