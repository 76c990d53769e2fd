"""Each front-end stage against real Kaldi's output (../shared/kaldi-golden)."""

import numpy as np
import pytest

from support import SPEECH, UTTS, speechlike
from deepbrain.audio import Audio, read_wav
from deepbrain.errors import AudioError, FormatError
from deepbrain.features import (apply_cmvn, compute_cmvn_stats, compute_mfcc_feats,
                                splice_feats, transform_feats)
from deepbrain.kaldi_formats import read_matrix_file
from deepbrain.options import CmvnOptions, MfccOptions


def rel_err(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def stages(golden):
    """Our stages on the golden wavs, each from our own previous stage."""
    mat = read_matrix_file(golden / "model" / "final.mat", "LDA")
    out = {}
    for u in UTTS:
        f = compute_mfcc_feats(read_wav(golden / "wav" / f"{u}.wav"), MfccOptions())
        st = compute_cmvn_stats(f)
        c = apply_cmvn(f, st, CmvnOptions())
        s = splice_feats(c, 3, 3)
        out[u] = {"feats": f, "cmvn": st, "cmvn_feats": c, "spliced": s,
                  "transformed": transform_feats(s, mat)}
    return out


@pytest.mark.parametrize("stage", ["feats", "cmvn_feats", "spliced", "transformed"])
def test_stage_equals_kaldi_within_2e_3_of_largest_value(stages, golden_arks, stage):
    for u in UTTS:
        assert stages[u][stage].shape == golden_arks[stage][u].shape
        assert rel_err(stages[u][stage], golden_arks[stage][u]) <= 2e-3, u


def test_speech_features_much_closer_than_the_bound(stages, golden_arks):
    # kaldi-native-fbank reproduces Kaldi's MFCC to float round-off on speech.
    for u in SPEECH:
        assert rel_err(stages[u]["feats"], golden_arks["feats"][u]) < 2e-5


def test_cmvn_stats_equal_kaldi(stages, golden_arks):
    for u in UTTS:
        ref = golden_arks["cmvn"][u]
        assert ref.shape == (2, 14)
        assert stages[u]["cmvn"][0, 13] == ref[0, 13]  # frame count, exactly
        assert rel_err(stages[u]["cmvn"], ref) < 1e-3


def test_apply_cmvn_from_kaldi_feats_is_exact_to_float_rounding(golden_arks):
    for u in UTTS:
        f = golden_arks["feats"][u]
        ours = apply_cmvn(f, golden_arks["cmvn"][u], CmvnOptions())
        assert np.abs(ours - golden_arks["cmvn_feats"][u]).max() <= 1e-5


def test_splice_and_transform_from_kaldi_input(golden, golden_arks):
    mat = read_matrix_file(golden / "model" / "final.mat", "LDA")
    for u in UTTS:
        sp = splice_feats(golden_arks["cmvn_feats"][u], 3, 3)
        assert np.array_equal(sp, golden_arks["spliced"][u])
        tr = transform_feats(golden_arks["spliced"][u], mat)
        assert np.abs(tr - golden_arks["transformed"][u]).max() <= 1e-4


def test_per_speaker_cmvn_pools_the_speakers_utterances():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((50, 4)), rng.standard_normal((30, 4)) + 2
    pooled = compute_cmvn_stats([a, b])
    assert np.allclose(pooled, compute_cmvn_stats(np.vstack([a, b])))
    out = apply_cmvn(a, pooled, CmvnOptions(per_speaker=True))
    assert np.allclose(out, a - np.vstack([a, b]).mean(axis=0), atol=1e-5)


def test_variance_normalisation():
    x = (np.random.default_rng(2).standard_normal((400, 5)) * [1, 2, 3, 4, 5] + 7).astype(
        np.float32)
    y = apply_cmvn(x, compute_cmvn_stats(x), CmvnOptions(norm_vars=True))
    assert np.allclose(y.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(y.std(axis=0), 1, atol=1e-3)


def test_no_mean_normalisation_is_identity():
    x = np.ones((3, 2), np.float32)
    assert np.array_equal(apply_cmvn(x, compute_cmvn_stats(x), CmvnOptions(norm_means=False)), x)


def test_affine_transform_uses_last_column_as_offset():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    m = np.array([[1, 0, 10], [0, 2, -1]], np.float32)
    assert np.allclose(transform_feats(x, m), x * [1, 2] + [10, -1])
    with pytest.raises(FormatError, match="needs 2 or 3 columns"):
        transform_feats(x, np.ones((2, 5), np.float32), "m.mat")


def test_splice_repeats_edge_frames():
    x = np.arange(3, dtype=np.float32)[:, None]
    assert splice_feats(x, 1, 1).tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 2]]


def audio(n, rate=16000):
    return Audio(speechlike(n / rate, rate).astype(np.float32), rate, "x.wav")


@pytest.mark.parametrize("snip,n,frames", [(True, 400, 1), (True, 399, 0), (True, 16000, 98),
                                           (False, 16000, 100), (False, 399, 2)])
def test_frame_count_follows_kaldi(snip, n, frames):
    opts = MfccOptions(snip_edges=snip)
    assert opts.num_frames(n) == frames
    if frames:
        assert compute_mfcc_feats(audio(n), opts).shape == (frames, 13)


def test_shorter_than_one_frame_is_a_clear_error():
    with pytest.raises(AudioError, match="shorter than one 25 ms frame.*zero frames"):
        compute_mfcc_feats(audio(399), MfccOptions())


def test_options_reach_the_mfcc_code():
    a = audio(8000)
    base = compute_mfcc_feats(a, MfccOptions())
    assert compute_mfcc_feats(a, MfccOptions(num_ceps=20, num_mel_bins=30)).shape[1] == 20
    for changed in (MfccOptions(use_energy=True), MfccOptions(window_type="hamming"),
                    MfccOptions(low_freq=100), MfccOptions(high_freq=-400),
                    MfccOptions(cepstral_lifter=0), MfccOptions(preemphasis_coefficient=0.5)):
        assert not np.allclose(compute_mfcc_feats(a, changed), base), changed
    sub = compute_mfcc_feats(a, MfccOptions(subtract_mean=True))
    assert np.allclose(sub.mean(axis=0), 0, atol=1e-4)
