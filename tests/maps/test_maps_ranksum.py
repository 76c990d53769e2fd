"""The vectorised rank-sum gives scipy.stats.mannwhitneyu's p-values bit for bit, and the PSI
built on it is the PSI of the per-pair mannwhitneyu loop it replaced."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from deepbrain.maps.ranksum import pairwise_greater
from deepbrain.maps.selectivity import phoneme_selectivity
from deepbrain.maps.stats import CorpusStats


def scipy_pairwise(samples, **options):
    """What the maps computed before: one mannwhitneyu call per ordered pair of groups."""
    dtype = np.result_type(*samples, np.float32)
    units = samples[0].shape[1]
    p = np.full((units, len(samples), len(samples)), np.nan, dtype)
    for a, x in enumerate(samples):
        for b, y in enumerate(samples):
            if a != b:
                with np.errstate(invalid="ignore", divide="ignore"):
                    p[:, a, b] = mannwhitneyu(x, y, alternative="greater", axis=0,
                                              **options).pvalue
    return p


def groups(rng, sizes, units, make):
    return [make(rng, (n, units)) for n in sizes]


def uniform32(rng, shape):
    return rng.random(shape).astype(np.float32)


def coarse32(rng, shape):   # few distinct values: ties everywhere, groups of every size
    return np.round(rng.random(shape) * 4).astype(np.float32)


def saturated32(rng, shape):  # sigmoid-like: a share of frames exactly at 1.0
    return np.minimum(1.0, rng.random(shape) * 1.2).astype(np.float32)


@pytest.mark.parametrize("make", [uniform32, coarse32, saturated32])
@pytest.mark.parametrize("sizes", [(100, 100, 100, 60, 9), (5, 6, 7, 8, 9, 100),
                                   (1, 2, 3, 100), (5, 5, 5)])
def test_equals_mannwhitneyu_bit_for_bit(make, sizes):
    samples = groups(np.random.default_rng(sum(sizes)), sizes, 17, make)
    np.testing.assert_array_equal(pairwise_greater(samples), scipy_pairwise(samples))


def test_small_samples_without_ties_use_the_exact_distribution_as_scipy_does():
    rng = np.random.default_rng(3)
    samples = groups(rng, (5, 8, 40), 11, uniform32)
    ours = pairwise_greater(samples)
    for a, b in [(0, 1), (1, 0), (0, 2), (2, 1)]:   # one side has <= 8 values: exact
        exact = mannwhitneyu(samples[a], samples[b], alternative="greater", method="exact")
        normal = mannwhitneyu(samples[a], samples[b], alternative="greater",
                              method="asymptotic")
        np.testing.assert_array_equal(ours[:, a, b], exact.pvalue)
        assert not np.array_equal(ours[:, a, b], normal.pvalue)


def test_one_tie_in_any_unit_switches_a_small_pair_to_the_normal_approximation():
    rng = np.random.default_rng(4)
    samples = groups(rng, (6, 30), 5, uniform32)
    samples[1][0, 3] = samples[0][2, 3]               # a single tie, in unit 3 only
    ours = pairwise_greater(samples)
    normal = mannwhitneyu(samples[0], samples[1], alternative="greater", method="asymptotic")
    np.testing.assert_array_equal(ours[:, 0, 1], normal.pvalue)   # every unit, as scipy
    np.testing.assert_array_equal(ours, scipy_pairwise(samples))


def test_all_equal_values_and_constant_units():
    samples = [np.ones((n, 4), np.float32) for n in (5, 7, 100)]
    samples[2][:, 1] = 0.5                            # unit 1: one group below the others
    np.testing.assert_array_equal(pairwise_greater(samples), scipy_pairwise(samples))
    assert np.all(pairwise_greater(samples)[:, 0, 1] == 1.0)


def test_float64_and_many_blocks_and_nan():
    rng = np.random.default_rng(5)
    samples = groups(rng, (12, 30, 7), 3, lambda r, s: np.round(r.random(s) * 6))
    np.testing.assert_array_equal(pairwise_greater(samples), scipy_pairwise(samples))
    samples = groups(rng, (20, 25, 9), 300, saturated32)  # more units than one block
    samples[1][4, 7] = np.nan
    ours = pairwise_greater(samples)
    np.testing.assert_array_equal(ours, scipy_pairwise(samples))
    assert np.isnan(ours[7, 1, 0]) and np.isnan(ours[7, 0, 1]) and not np.isnan(ours[7, 0, 2])


def test_refuses_empty_groups():
    with pytest.raises(ValueError):
        pairwise_greater([np.ones((3, 2)), np.ones((0, 2))])
    with pytest.raises(ValueError):
        pairwise_greater([np.ones((3, 2))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 14), min_size=2, max_size=5), st.integers(1, 4),
       st.integers(0, 2**32 - 1), st.sampled_from([2, 5, 50]))
def test_any_sizes_and_ties(sizes, units, seed, levels):
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, levels, (n, units)).astype(np.float32) / levels
               for n in sizes]
    np.testing.assert_array_equal(pairwise_greater(samples), scipy_pairwise(samples))


def loop_psi(stats, layer, alpha=0.01, min_frames=5):
    """phoneme_selectivity as it was before the vectorised rank-sum (verbatim)."""
    phones = stats.num_phones
    units = stats.units[layer]
    psi = np.full((units, phones), -1, np.int64)
    ok = [p for p in range(phones) if stats.filled[p] >= min_frames]
    for p in ok:
        x = stats.sample(layer, p)
        count = np.zeros(units, np.int64)
        for q in ok:
            if q == p:
                continue
            y = stats.sample(layer, q)
            with np.errstate(invalid="ignore", divide="ignore"):
                pv = mannwhitneyu(x, y, alternative="greater", axis=0).pvalue
            count += np.nan_to_num(pv, nan=1.0) < alpha
        psi[:, p] = count
    return psi


def test_psi_equals_the_per_pair_loop():
    """Phones with plenty of frames, with 5-8 (exact tests), with too few (-1), with none;
    units that prefer a phone, and a layer that saturates (ties)."""
    rng = np.random.default_rng(6)
    phones, units = 9, {1: 40, 2: 24}
    st_ = CorpusStats(phones, units, reservoir=100, seed=1)
    for i in range(10):   # in all: 400, 300, 150, 90, 7, 6, 3, 0 and 250 frames
        per_utt = [40, 30, 15, 9, i < 7, i < 6, i < 3, 0, 25]
        labels = np.concatenate([np.full(int(n), p) for p, n in enumerate(per_utt)])
        labels = rng.permutation(labels)
        pref = rng.integers(0, phones, units[1])
        x = rng.standard_normal((labels.size, units[1])) + 1.5 * (labels[:, None] == pref)
        acts1 = (1 / (1 + np.exp(-x))).astype(np.float32)
        acts2 = np.minimum(1.0, acts1[:, :24] * 1.6).astype(np.float32)
        st_.add({1: acts1, 2: acts2}, labels)
    for layer in (1, 2):
        old = loop_psi(st_, layer)
        np.testing.assert_array_equal(phoneme_selectivity(st_, layer), old)
        assert (old[:, 6] == -1).all() and old[:, :4].max() > 0   # both kinds are there
    assert st_.filled.tolist() == [100, 100, 100, 90, 7, 6, 3, 0, 100]


def test_psi_with_one_phone_or_none():
    st_ = CorpusStats(3, {1: 4}, reservoir=10)
    st_.add({1: np.random.default_rng(0).random((8, 4)).astype(np.float32)}, np.zeros(8, int))
    assert phoneme_selectivity(st_, 1).tolist() == loop_psi(st_, 1).tolist()
    assert phoneme_selectivity(st_, 1)[:, 0].tolist() == [0, 0, 0, 0]
    empty = CorpusStats(2, {1: 3})
    assert (phoneme_selectivity(empty, 1) == -1).all()
