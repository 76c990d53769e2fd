"""Corpus statistics: exact sums and counts, uniform reservoirs, exact merging."""

import numpy as np
import pytest

from deepbrain.maps.stats import CorpusStats


def utterances(rng, n=12, units=5, phones=4):
    for _ in range(n):
        frames = int(rng.integers(20, 60))
        labels = rng.integers(-1, phones, frames)
        acts = rng.random((frames, units)).astype(np.float32) + labels[:, None]
        yield {1: acts, 2: acts[:, :3] * 2}, labels


def test_sums_counts_and_means_are_exact():
    rng = np.random.default_rng(0)
    st = CorpusStats(4, {1: 5, 2: 3}, reservoir=10)
    all_acts, all_labels = [], []
    for layers, labels in utterances(rng):
        st.add(layers, labels)
        all_acts.append(layers[1])
        all_labels.append(labels)
    acts, labels = np.vstack(all_acts), np.concatenate(all_labels)
    for p in range(4):
        assert st.counts[p] == np.sum(labels == p)
        assert np.allclose(st.means(1)[:, p], acts[labels == p].mean(axis=0))
    assert st.filled.tolist() == [10, 10, 10, 10]


def test_reservoir_frames_are_real_frames_of_that_phone_and_shared_by_layers():
    rng = np.random.default_rng(1)
    st = CorpusStats(4, {1: 5, 2: 3}, reservoir=8)
    for layers, labels in utterances(rng):
        st.add(layers, labels)
    for p in range(4):
        s1, s2 = st.sample(1, p), st.sample(2, p)
        assert np.all((s1 >= p) & (s1 < p + 1))           # phone p's frames only
        assert np.allclose(s2, s1[:, :3] * 2)             # the same frames in every layer


def test_reservoir_is_uniform_over_the_stream():
    counts = np.zeros(100)
    for seed in range(300):
        st = CorpusStats(1, {1: 1}, reservoir=10, seed=seed)
        for i in range(10):
            st.add({1: np.arange(10 * i, 10 * i + 10, dtype=np.float32)[:, None]},
                   np.zeros(10, np.int64))
        counts[st.sample(1, 0)[:, 0].astype(int)] += 1
    # each of 100 frames is kept with probability 0.1: 30 times in 300 runs on average
    assert counts.min() > 10 and counts.max() < 55
    first, last = counts[:50].sum(), counts[50:].sum()
    assert abs(first - last) < 0.15 * (first + last)


def test_merge_equals_one_pass_for_sums_and_mixes_both_reservoirs():
    rng = np.random.default_rng(2)
    data = list(utterances(rng, n=20))
    whole = CorpusStats(4, {1: 5, 2: 3}, reservoir=6)
    a, b = CorpusStats(4, {1: 5, 2: 3}, reservoir=6, seed=1), \
        CorpusStats(4, {1: 5, 2: 3}, reservoir=6, seed=2)
    for i, (layers, labels) in enumerate(data):
        whole.add(layers, labels)
        (a if i % 2 else b).add(layers, labels)
    a.merge(b)
    assert np.array_equal(a.counts, whole.counts)
    for k in (1, 2):
        assert np.allclose(a.sums[k], whole.sums[k])
    assert a.filled.tolist() == [6, 6, 6, 6]
    with pytest.raises(ValueError):
        a.merge(CorpusStats(3, {1: 5, 2: 3}, reservoir=6))


def test_phone_without_frames_gives_a_nan_column():
    st = CorpusStats(3, {1: 2})
    st.add({1: np.ones((4, 2), np.float32)}, np.array([0, 0, 2, 2]))
    assert np.isnan(st.means(1)[:, 1]).all() and st.filled[1] == 0
