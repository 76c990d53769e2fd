"""What the panels show per frame, gathered chunk by chunk, equals the whole utterance's: the
heard lane is lane_from_output's, the region scores region_scores'; frames not computed are
unknown."""

import numpy as np

from deepbrain.framesummary import (PerFrame, as_scores, chunk_scores, heard_ids,
                                    lane_from_ids, segments_within)
from deepbrain.maps.units import UnitTable
from deepbrain.phonelanes import lane_from_output
from deepbrain.regions import region_scores
from deepbrain.segments import PhoneSegment

PHONES = ("sil", "aa", "iy", "s")


def table(layer, units, rng):
    return UnitTable(layer, PHONES[1:], rng.integers(0, 3, units), np.zeros(units, int),
                     np.ones(units), None, None)


def test_heard_lane_from_chunks_equals_the_whole_output():
    rng = np.random.default_rng(0)
    out = rng.random((300, 4)).astype(np.float32)
    out[100:160, 2] += 2.0                   # a long "iy"
    heard = PerFrame(300, np.int16, -1)
    for a in (0, 37, 200, 250, 120, 64, 170):    # any order, overlapping
        heard.put(a, heard_ids(out[a:a + 60], PHONES))
    assert heard.known() == 300
    assert lane_from_ids(heard.values, PHONES).segments == \
        lane_from_output(out, PHONES).segments
    assert heard_ids(out[:, :3], PHONES) is None


def test_frames_not_computed_belong_to_no_segment():
    ids = np.array([-1, -1, 1, 1, 2, -1, 2, 2, -1], np.int16)
    segs = lane_from_ids(ids, PHONES).segments
    assert [(s.phone, s.start, s.end) for s in segs] == [("aa", 2, 4), ("iy", 4, 5),
                                                        ("iy", 6, 8)]


def test_segments_within_a_chunk():
    segs = [PhoneSegment("sil", 0, 10), PhoneSegment("aa", 10, 25), PhoneSegment("s", 25, 40)]
    assert segments_within(segs, 12, 30) == [PhoneSegment("aa", 0, 13),
                                             PhoneSegment("s", 13, 18)]
    assert segments_within(segs, 40, 50) == [] and segments_within(segs, 0, 5) == \
        [PhoneSegment("sil", 0, 5)]


def test_scores_from_chunks_equal_the_whole_utterances():
    rng = np.random.default_rng(1)
    layers = {1: rng.random((400, 30)).astype(np.float32),
              2: np.tanh(rng.standard_normal((400, 20))).astype(np.float32)}
    tables = {1: table(1, 30, rng), 2: table(2, 20, rng)}
    segs, t = [], 0
    while t < 400:
        n = int(rng.integers(3, 30))
        segs.append(PhoneSegment(PHONES[int(rng.integers(0, 4))], t, min(t + n, 400)))
        t += n
    floors = {1: 0.0, 2: -1.0}
    want = region_scores(layers, tables, segs, floors)
    series = {k: PerFrame(400, np.float64) for k in layers}
    for a in range(0, 400, 128):
        chunk = {k: m[a:a + 128] for k, m in layers.items()}
        for k, v in chunk_scores(chunk, a, tables, segs, floors).items():
            series[k].put(a, v)
    got = as_scores(series)
    for k in layers:
        np.testing.assert_allclose(got[k].per_frame, want[k].per_frame, equal_nan=True)
        assert got[k].mean == want[k].mean or np.isclose(got[k].mean, want[k].mean)
    partial = {k: PerFrame(400, np.float64) for k in layers}
    for k, v in chunk_scores({k: m[:128] for k, m in layers.items()}, 0, tables, segs,
                             floors).items():
        partial[k].put(0, v)
    assert np.isnan(as_scores(partial)[1].per_frame[128:]).all()


def test_per_frame_values_grow_with_a_live_utterance():
    s = PerFrame(0)
    s.put(0, np.ones(3, np.float32))
    s.put(500, np.full(2, 2.0, np.float32))
    assert s.num_frames == 502 and s.known() == 5 and np.isnan(s.values[3:500]).all()
