"""Online i-vectors: each step against a plain frame-by-frame computation of what Kaldi's
code does, and the files (final.dubm, final.ie, global_cmvn.stats) read back."""

import math

import numpy as np
import pytest

from deepbrain.errors import FormatError
from deepbrain.kaldi_formats import KaldiWriter
from deepbrain.nnet3.ivector import (DiagGmm, IvectorExtractor, OnlineCmvnOptions,
                                     OnlineIvectorExtractor, OnlineIvectorOptions,
                                     gaussian_posteriors, linear_cgd, online_cmvn,
                                     read_cmvn_stats, read_diag_gmm, read_ivector_extractor)

F32 = np.float32


def small_extractor(seed=0, gauss=4, dim=3, ivector_dim=4, feat_dim=2, max_count=0.0,
                    period=5, iextractor_cmvn=False):
    rng = np.random.default_rng(seed)
    inv_vars = (rng.uniform(0.5, 2.0, (gauss, dim))).astype(F32)
    ubm = DiagGmm(np.full(gauss, 1.0 / gauss, F32),
                  (rng.standard_normal((gauss, dim)) * inv_vars).astype(F32), inv_vars)
    a = rng.standard_normal((gauss, dim, dim))
    sigma_inv = np.einsum("gij,gkj->gik", a, a) + 2 * np.eye(dim)
    ie = IvectorExtractor(rng.standard_normal((gauss, dim, ivector_dim)), sigma_inv, 3.5)
    lda = (rng.standard_normal((dim, feat_dim * 3 + 1)) * 0.5).astype(F32)
    stats = np.array([[1.0, -2.0, 10.0], [5.0, 9.0, 0.0]])
    opts = OnlineIvectorOptions(ivector_period=period, left_context=1, right_context=1,
                                max_count=max_count, online_cmvn_iextractor=iextractor_cmvn)
    cmvn = OnlineCmvnOptions(cmn_window=7, speaker_frames=7, global_frames=3)
    return OnlineIvectorExtractor(opts, cmvn, lda, stats, ubm, ie, "test")


# -- the steps ---------------------------------------------------------------------------

def test_linear_cgd_follows_textbook_cg_and_converges():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((12, 12))
    a = a @ a.T + np.eye(12)
    b = rng.standard_normal(12)
    x0 = rng.standard_normal(12)
    for k in (1, 3, 12):
        x, r = x0.copy(), b - a @ x0
        p = r.copy()
        for _ in range(k):  # Nocedal & Wright, algorithm 5.2
            alpha = (r @ r) / (p @ a @ p)
            x = x + alpha * p
            r_new = r - alpha * a @ p
            p = r_new + (r_new @ r_new) / (r @ r) * p
            r = r_new
        np.testing.assert_allclose(linear_cgd(a, b, x0, k), x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(linear_cgd(a, b, x0, 15), np.linalg.solve(a, b), rtol=1e-8)


def posterior_entry(log_likes, num_gselect, min_post):
    """VectorToPosteriorEntry, line by line (hmm/posterior.cc)."""
    max_like = max(log_likes)
    temp = [(g, math.exp(l - max_like)) for g, l in enumerate(log_likes)
            if l > max_like + math.log(min_post)]
    temp.sort(key=lambda gp: -gp[1])
    entry = temp[:num_gselect]
    tot = sum(p for _, p in entry)
    cutoff = min_post * tot
    while len(entry) > 1 and entry[-1][1] < cutoff:
        tot -= entry.pop()[1]
    return {g: p / tot for g, p in entry}


def test_gaussian_posteriors_prune_as_kaldi():
    rng = np.random.default_rng(2)
    log_likes = (rng.standard_normal((300, 9)) * rng.uniform(0.5, 6, (300, 1))).astype(F32)
    post = gaussian_posteriors(log_likes, 5, 0.025)
    for t in range(300):
        want = posterior_entry([float(v) for v in log_likes[t]], 5, 0.025)
        assert set(np.flatnonzero(post[t])) == set(want)
        for g, p in want.items():
            assert post[t, g] == pytest.approx(p, rel=1e-5)
    assert (post > 0).sum(axis=1).min() >= 1 and (post > 0).sum(axis=1).max() == 5


def test_online_cmvn_is_a_sliding_window_topped_up_from_global():
    rng = np.random.default_rng(3)
    feats = (rng.standard_normal((20, 2)) * 3 + 1).astype(F32)
    stats = np.array([[40.0, -10.0, 20.0], [200.0, 90.0, 0.0]])
    opts = OnlineCmvnOptions(cmn_window=7, speaker_frames=7, global_frames=3)
    got = online_cmvn(feats, stats, opts)
    for t in range(20):
        window = feats[max(0, t - 6):t + 1].astype(np.float64)
        total, count = window.sum(axis=0), len(window)
        if count < 7:
            g = min(7 - count, 3)
            total = total + g / 20.0 * stats[0, :2]
            count = count + g
        np.testing.assert_allclose(got[t], feats[t] - total / count, rtol=1e-6, atol=1e-6)
    var = online_cmvn(feats, stats, OnlineCmvnOptions(cmn_window=7, speaker_frames=7,
                                                      global_frames=3, norm_vars=True))
    assert np.abs(var[10:]).max() < 4 and np.all(np.isfinite(var))


@pytest.mark.parametrize("max_count, iextractor_cmvn", [(0.0, False), (0.4, False),
                                                         (0.0, True)])
def test_extract_equals_the_closed_form(max_count, iextractor_cmvn):
    """With CG steps >= the i-vector dimension, each i-vector is the exact solution of
    (I + sum gamma U_g) w = prior e0 + sum gamma M_g' Sigma_g^-1 x (max-count raises the
    prior's weight once the count passes it)."""
    ex = small_extractor(max_count=max_count, iextractor_cmvn=iextractor_cmvn)
    rng = np.random.default_rng(4)
    feats = (rng.standard_normal((23, 2)) * 2).astype(F32)
    got = ex.extract(feats)
    assert got.shape == (5, 4) and got.dtype == np.float32

    def lda(x):
        xs = np.concatenate([x[np.clip(np.arange(23) + o, 0, 22)] for o in (-1, 0, 1)], 1)
        return xs @ ex.lda[:, :6].T.astype(np.float64) + ex.lda[:, 6]

    norm = lda(online_cmvn(feats, ex.global_cmvn_stats, ex.cmvn_options))
    stats_feats = norm if iextractor_cmvn else lda(feats)
    m, s = ex.extractor.m, ex.extractor.sigma_inv
    post = [posterior_entry(list(ex.ubm.log_likelihoods(norm[t:t + 1].astype(F32))[0]), 5,
                            0.025) for t in range(23)]
    for i in range(5):
        t_end = 5 * i
        lin, quad, count = np.zeros(4), np.eye(4), 0.0
        lin[0] = 3.5
        for t in range(t_end + 1):
            for g, p in post[t].items():
                p *= 0.1
                lin += p * m[g].T @ s[g] @ stats_feats[t]
                quad += p * m[g].T @ s[g] @ m[g]
                count += p
        if max_count:
            extra = max(count, max_count) / max_count - 1
            lin[0] += 3.5 * extra
            quad += extra * np.eye(4)
        want = np.linalg.solve(quad, lin)
        want[0] -= 3.5
        np.testing.assert_allclose(got[i], want, rtol=2e-4, atol=2e-4)


def test_extract_checks_its_input():
    ex = small_extractor()
    with pytest.raises(FormatError, match="takes 2-dim features"):
        ex.extract(np.zeros((10, 4), F32))
    assert ex.extract(np.zeros((0, 2), F32)).shape == (0, 4)
    np.testing.assert_array_equal(ex.extract(np.ones((7, 5), F32)),
                                  ex.extract(np.ones((7, 2), F32)))  # +3 dims: pitch, dropped


# -- files -------------------------------------------------------------------------------

def dubm_bytes(binary, ubm=None):
    ubm = ubm or small_extractor().ubm
    w = KaldiWriter(binary)
    w.token("<DiagGMM>")
    w.token("<GCONSTS>")
    w.vector(ubm.gconsts)
    w.token("<WEIGHTS>")
    w.vector(ubm.weights)
    w.token("<MEANS_INVVARS>")
    w.matrix(ubm.means_invvars)
    w.token("<INV_VARS>")
    w.matrix(ubm.inv_vars)
    w.token("</DiagGMM>")
    return w.getvalue()


def extractor_bytes(binary, ie=None):
    ie = ie or small_extractor().extractor
    w = KaldiWriter(binary)
    w.token("<IvectorExtractor>")
    w.token("<w>")
    w.matrix(np.zeros((0, 0)))
    w.token("<w_vec>")
    w.vector(np.zeros(0))
    w.token("<M>")
    w.int(ie.m.shape[0])
    for m in ie.m:
        w.matrix(m)
    w.token("<SigmaInv>")
    for s in ie.sigma_inv:
        w.packed_matrix(s)
    w.token("<IvectorOffset>")
    w.float(ie.prior_offset)
    w.token("</IvectorExtractor>")
    return w.getvalue()


@pytest.mark.parametrize("binary", [True, False])
def test_files_read_back(tmp_path, binary):
    ex = small_extractor()
    (tmp_path / "final.dubm").write_bytes(dubm_bytes(binary))
    (tmp_path / "final.ie").write_bytes(extractor_bytes(binary))
    ubm = read_diag_gmm(tmp_path / "final.dubm")
    np.testing.assert_allclose(ubm.inv_vars, ex.ubm.inv_vars, rtol=1e-6)
    np.testing.assert_allclose(ubm.gconsts, ex.ubm.gconsts, rtol=1e-5)
    ie = read_ivector_extractor(tmp_path / "final.ie")
    np.testing.assert_allclose(ie.m, ex.extractor.m.astype(F32), rtol=1e-6)
    np.testing.assert_allclose(ie.sigma_inv, ex.extractor.sigma_inv, rtol=1e-6)
    assert ie.prior_offset == pytest.approx(3.5)
    w = KaldiWriter(binary)
    w.matrix(ex.global_cmvn_stats)
    (tmp_path / "global_cmvn.stats").write_bytes(w.getvalue())
    np.testing.assert_allclose(read_cmvn_stats(tmp_path / "global_cmvn.stats"),
                               ex.global_cmvn_stats)


def test_mismatched_extractor_files_are_named():
    ex = small_extractor()
    bad = OnlineIvectorExtractor(ex.options, ex.cmvn_options, ex.lda[:, :5],
                                 ex.global_cmvn_stats, ex.ubm, ex.extractor, "dir/ivector")
    with pytest.raises(FormatError, match="dir/ivector: .*final.mat has 5 columns"):
        bad.check()


@pytest.mark.parametrize("scp", [False, True])
def test_online_ivectors_made_elsewhere(tmp_path, scp):
    import kaldiio

    from deepbrain.nnet3.ivector import read_online_ivectors

    mats = {"u1": np.ones((3, 4), F32), "u2": np.arange(8, dtype=F32).reshape(2, 4)}
    kaldiio.save_ark(str(tmp_path / "iv.ark"), mats, scp=str(tmp_path / "iv.scp"))
    got = read_online_ivectors(tmp_path / ("iv.scp" if scp else "iv.ark"))
    assert set(got) == {"u1", "u2"}
    np.testing.assert_array_equal(got["u2"], mats["u2"])
    (tmp_path / "bad.ark").write_bytes(b"u1 \0BFM garbage")
    with pytest.raises(FormatError, match="bad.ark: not a readable Kaldi ark/scp"):
        read_online_ivectors(tmp_path / "bad.ark")
    with pytest.raises(FormatError, match="no such file"):
        read_online_ivectors(tmp_path / "none.ark")
