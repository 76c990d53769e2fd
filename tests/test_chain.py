"""Chunks of frames equal the whole utterance: every stage repeats the utterance's edge
frames only at the utterance's edges, so any split gives the same numbers."""

import numpy as np
import pytest

from support import ROOT, speechlike, wav_bytes, write_tiny_model
from deepbrain.arkstream import ArkWriter, open_matrix, scp_entries
from deepbrain.artefacts import Request
from deepbrain.blocks import Block, splice_block, whole
from deepbrain.chain import UtteranceComputer, extract
from deepbrain.engines import numpy_engine
from deepbrain.features import compute_cmvn_stats
from deepbrain.model import load_model
from deepbrain.nnet1 import splice_frames
from deepbrain.pipeline import utterances_from_wavs


def test_a_block_splices_exactly_what_the_whole_would():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    offsets = (-3, -1, 0, 2)
    full = splice_frames(x, offsets)
    for s, e in ((0, 20), (0, 7), (5, 15), (12, 20), (4, 9)):
        b = splice_block(Block(x[s:e], s, 20), offsets)
        assert np.array_equal(b.x, full[b.start:b.end])
        assert b.start == (s if s == 0 else s + 3) and b.end == (e if e == 20 else e - 2)
    assert np.array_equal(splice_block(whole(x), offsets).x, full)


def computer(model, wav, layers, output=True, keep=True):
    from deepbrain.audio import read_wav
    a = read_wav(wav)
    e = extract("u", iter([a.samples]), a.samples.size, str(wav), a.sample_rate, model)
    stats = compute_cmvn_stats(e.feats) if model.cmvn is not None else None
    return UtteranceComputer(model, e, stats, layers, output, keep)


@pytest.mark.parametrize("which", ["demo", "tiny"])
@pytest.mark.parametrize("size", [1, 3, 17, 250])
def test_chunks_equal_the_whole_utterance(tmp_path, which, size):
    model = load_model(ROOT / "models" / "demo") if which == "demo" else \
        load_model(write_tiny_model(tmp_path / "m"))
    wav = tmp_path / "a.wav"
    wav.write_bytes(wav_bytes(speechlike(1.3)))
    layers = tuple(range(1, model.num_hidden + 1))
    comp = computer(model, wav, layers)
    ref = comp.compute(0, comp.num_frames)
    parts = list(comp.chunks(size))
    assert parts[0].first and parts[-1].last and sum(p.rows for p in parts) == ref.rows
    # BLAS may sum a row's products in another order for another number of rows: float32
    # rounding of sums over hundreds of products (the tiny net's weights are large)
    for k in layers:
        got = np.concatenate([p.layers[k] for p in parts])
        np.testing.assert_allclose(got, ref.layers[k], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([p.output for p in parts]), ref.output,
                               rtol=1e-5, atol=1e-5)
    for name in ref.stages:
        got = np.concatenate([p.stages[name] for p in parts])
        np.testing.assert_allclose(got, ref.stages[name], atol=2e-5, err_msg=name)


def test_the_engine_streams_what_it_runs(tmp_path):
    model = load_model(write_tiny_model(tmp_path / "m"))
    wavs = []
    for i in range(3):
        w = tmp_path / f"w{i}.wav"
        w.write_bytes(wav_bytes(speechlike(0.4 + 0.3 * i, seed=i)))
        wavs.append(w)
    utts = utterances_from_wavs(wavs)
    req = Request((1, 2), output=True, keep_intermediate=True)
    whole_acts = {a.utt_id: a for a in numpy_engine.run(utts, model, req)}
    chunks = list(numpy_engine.stream(utts, model, req, chunk_frames=5))
    assert [c.utt_id for c in chunks if c.first] == ["w0", "w1", "w2"]
    for utt, act in whole_acts.items():
        mine = [c for c in chunks if c.utt_id == utt]
        got = np.concatenate([c.layers[2] for c in mine])
        np.testing.assert_allclose(got, act.layers[2], rtol=1e-5, atol=1e-5)
        assert np.array_equal(mine[0].whole["cmvn"], act.stages.cmvn)


def test_an_ark_written_in_rows_reads_back_lazily(tmp_path):
    import kaldiio
    rng = np.random.default_rng(0)
    m = rng.standard_normal((11, 4)).astype(np.float32)
    w = ArkWriter(tmp_path / "a.ark")
    off = w.begin("u1", 11, 4)
    for a in range(0, 11, 3):
        w.rows(m[a:a + 3])
    off2 = w.whole("u2", np.eye(2))
    w.close()
    back = dict(kaldiio.load_ark(str(tmp_path / "a.ark")))
    assert np.array_equal(back["u1"], m) and np.array_equal(back["u2"], np.eye(2))
    assert np.array_equal(np.asarray(open_matrix(tmp_path / "a.ark", off)), m)
    assert np.array_equal(np.asarray(open_matrix(tmp_path / "a.ark", off2)), np.eye(2))
    (tmp_path / "a.scp").write_text(f"u1 {tmp_path / 'a.ark'}:{off}\n")
    assert scp_entries(tmp_path / "a.scp") == [("u1", str(tmp_path / "a.ark"), off)]
    assert np.array_equal(kaldiio.load_mat(f"{tmp_path / 'a.ark'}:{off}"), m)
