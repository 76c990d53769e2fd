"""Label fixes and the frame convention, on synthetic signals (no espeak-ng needed)."""

import numpy as np
import pytest

from deepbrain.corpus import acoustics, labels
from deepbrain.corpus.errors import CorpusError
from deepbrain.corpus.phones import PHONE_IDS, SIL

RATE = acoustics.RATE


def tone(ms: float, hz: float, amp: float = 8000.0) -> np.ndarray:
    t = np.arange(int(ms * RATE / 1000)) / RATE
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def ids(segs):
    return [(s.labels, s.start, s.end) for s in segs]


def test_zero_runs_of_5_ms_or_more_are_found():
    x = np.concatenate([tone(20, 440), np.zeros(111, np.int16), tone(20, 440),
                        np.full(100, 2, np.int16), tone(20, 440)])  # 111 = 5.03 ms, 100 < 5 ms
    runs = acoustics.zero_runs(x)
    assert len(runs) == 1
    start, end = runs[0]
    assert end - start >= 111 and start <= 441 and end >= 441 + 111


def test_frame_i_is_labelled_at_its_centre():
    lab = np.zeros(RATE, dtype=np.int8)
    lab[int(0.0375 * RATE):] = 5  # a change at 37.5 ms: frame 2's centre is 32.5, frame 3's 42.5
    frames = labels.frame_labels(lab, 5)
    assert frames.dtype == np.int32 and frames.tolist() == [0, 0, 0, 5, 5]


def test_raw_segments_span_event_to_event_with_sil_before_the_first():
    segs = labels.raw_segments([("D", 100), ("@", 300), ("_:", 500)], 800)
    assert ids(segs) == [(["sil"], 0, 100), (["dh"], 100, 300), (["ah"], 300, 500),
                         (["sil"], 500, 800)]


def test_an_unknown_mnemonic_is_an_error_naming_the_fix():
    with pytest.raises(CorpusError, match="ESPEAK_TO_TIMIT"):
        labels.raw_segments([("Q!", 0)], 10)


def test_linking_r_keeps_only_the_vowel():
    segs = labels.raw_segments([("A@", 0), ("r", 1000), ("i", 1500)], 2000)
    labels.drop_linking_r(segs)
    assert [s.labels for s in segs] == [["sil"], ["aa"], ["r"], ["iy"]]


def test_zero_length_dark_l_takes_the_vowels_tail_at_the_spectral_change():
    x = np.concatenate([tone(100, 700), tone(60, 300)])  # "vowel" then "l"-like tone
    n = len(x)
    segs = labels.attach_dark_l(labels.raw_segments([("E", 0), ("l", n), ("z", n)], n))
    out = [s for s in labels.split_units(x, segs) if s.end > s.start]
    assert [s.labels for s in out] == [["eh"], ["l"]]
    cut = out[0].end
    assert abs(cut - int(0.100 * RATE)) < int(0.006 * RATE)


def test_two_phone_units_split_within_35_to_75_percent():
    x = tone(200, 500)  # no change anywhere: the cut must stay inside its limits
    out = labels.split_units(x, labels.raw_segments([("aI@", 0)], len(x)))
    assert [s.labels for s in out] == [["sil"], ["ay"], ["ah"]]
    assert 0.35 * len(x) <= out[1].end <= 0.75 * len(x)


def test_nasal_to_vowel_boundary_moves_back_to_the_energy_rise():
    x = np.concatenate([tone(80, 700, 2000), tone(100, 700, 8000)])  # +12 dB at 80 ms
    event = int(0.100 * RATE)  # espeak's vowel event 20 ms after the rise
    segs = labels.raw_segments([("n", 0), ("a", event)], len(x))[1:]
    labels.move_onsets(x, segs)
    assert abs(segs[0].end - int(0.080 * RATE)) < int(0.004 * RATE)
    assert segs[0].end == segs[1].start


def test_a_small_energy_change_does_not_move_the_boundary():
    x = np.concatenate([tone(80, 700, 6000), tone(100, 700, 8000)])  # +2.5 dB only
    segs = labels.raw_segments([("m", 0), ("a", int(0.1 * RATE))], len(x))[1:]
    labels.move_onsets(x, segs)
    assert segs[0].end == int(0.1 * RATE)


def test_voice_bar_before_a_release_becomes_sil():
    rng = np.random.default_rng(0)
    burst = (4000 * rng.standard_normal(int(0.02 * RATE))).astype(np.int16)
    x = np.concatenate([tone(100, 600), tone(50, 150, 2000), burst])
    start = int(0.1 * RATE)
    segs = labels.raw_segments([("a", 0), ("b", start)], len(x))[1:]
    out = labels.voiced_closures(x, segs)
    assert [s.labels for s in out] == [["ae"], ["sil"], ["b"]]
    assert abs(out[1].end - int(0.150 * RATE)) < int(0.004 * RATE)


def test_sample_labels_put_digital_silence_on_sil():
    x = np.concatenate([tone(100, 500), np.zeros(int(0.03 * RATE), np.int16), tone(100, 500)])
    lab = labels.sample_labels(x, [("a", 0), ("t", int(0.1 * RATE))])
    assert (lab[int(0.1 * RATE):int(0.13 * RATE)] == SIL).all()
    assert lab[10] == PHONE_IDS["ae"] and lab[-10] == PHONE_IDS["t"]
