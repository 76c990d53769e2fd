"""The many-voiced corpus: label timelines, augmentation that keeps labels on the audio,
Festival and Flite with their phone timings, and a small corpus made twice."""

from __future__ import annotations

import numpy as np
import pytest

from deepbrain.audio import read_wav
from deepbrain.corpus import augment, festival, flite
from deepbrain.corpus.errors import CorpusError
from deepbrain.corpus.phones import PHONES, arpabet_to_timit
from deepbrain.corpus.timeline import Timeline, from_arpabet, from_sample_ids

RATE = 16000


def _burst_signal(on: float, off: float, total: float) -> tuple[np.ndarray, Timeline]:
    """A 1 kHz tone between ``on`` and ``off`` seconds, silence elsewhere, and its labels."""
    t = np.arange(int(total * RATE)) / RATE
    x = np.where((t >= on) & (t < off), 8000 * np.sin(2 * np.pi * 1000 * t), 0.0)
    return x, Timeline(("sil", "aa", "sil"), np.array([on, off, total]))


def _edges(x: np.ndarray) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(x) > 2000)
    return loud[0] / RATE, loud[-1] / RATE


def test_timeline_frames_and_time_changes():
    t = Timeline(("sil", "k", "ae"), np.array([0.1, 0.2, 0.4]))
    ids = t.frame_ids(38)  # frame i's centre is at 10 i + 12.5 ms
    assert [PHONES[i] for i in ids[[0, 8, 9, 18, 19, 37]]] == \
        ["sil", "sil", "k", "k", "ae", "ae"]
    p = t.padded(0.05, 0.1)
    assert p.labels == ("sil", "sil", "k", "ae", "sil") and p.duration == pytest.approx(0.55)
    assert np.allclose(t.scaled(10 / 9).ends, t.ends * 10 / 9)
    assert from_sample_ids(np.array([0, 0, 5, 5, 5, 0]), 2, PHONES).labels == \
        ("sil", "ah", "sil")
    with pytest.raises(CorpusError, match="'qq'"):
        from_arpabet(["pau", "qq"], [0.1, 0.2], "test")
    assert [arpabet_to_timit(p) for p in ("AO1", "zh", "SIL", "ax", "pau", "el")] == \
        ["aa", "sh", "sil", "ah", "sil", "l"]


@pytest.mark.parametrize("speed", augment.SPEEDS)
def test_speed_perturbation_moves_the_labels_with_the_audio(speed):
    x, t = _burst_signal(0.3, 0.8, 1.2)
    y, t2 = augment.speed_perturb(x, t, speed)
    on, off = _edges(y)
    assert abs(on - t2.ends[0]) < 0.002 and abs(off - t2.ends[1]) < 0.002
    assert y.size / RATE == pytest.approx(t2.duration, abs=1e-3)
    assert t2.ends[1] == pytest.approx(0.8 / speed)


@pytest.mark.parametrize("codec", augment.CODECS)
def test_codecs_keep_the_audio_on_the_label_times(codec):
    if not augment.codec_available():
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    rng = np.random.default_rng(0)
    x = np.repeat(rng.standard_normal(150), 160) * 3000 * np.sin(  # a gated, moving tone
        2 * np.pi * np.cumsum(np.repeat(rng.uniform(300, 2500, 150), 160)) / RATE)
    y = augment.codec_roundtrip(x, codec, 24)
    assert y.size == x.size
    lags = range(-80, 81)  # +-5 ms
    corr = [float(np.dot(x[100:-100], np.roll(y, -k)[100:-100])) for k in lags]
    assert lags[int(np.argmax(corr))] in (-1, 0, 1)  # the codec's delay is gone


def test_a_full_plan_keeps_length_labels_and_snr():
    x, t = _burst_signal(0.3, 0.8, 1.2)
    rng = np.random.default_rng(5)
    for _ in range(20):
        plan = augment.draw_plan(rng)
        if plan.codec and not augment.codec_available():
            continue
        y, t2 = augment.apply(x, t, plan)
        assert y.size / RATE == pytest.approx(t2.duration, abs=2e-3)
        assert np.all(np.abs(y) <= 32768) and np.all(y == np.rint(y))
        assert t2.labels[0] == "sil" and "aa" in t2.labels
    plan = augment.Plan(noise="white", snr_db=10.0, seed=1)
    y, _ = augment.apply(x, t, plan)
    speech = slice(int(0.3 * RATE), int(0.8 * RATE))
    noise_only = y[:int(0.3 * RATE)]
    snr = 10 * np.log10(np.mean(x[speech] ** 2) / np.mean(noise_only ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_a_noise_floor_fills_the_silence():
    x, t = _burst_signal(0.3, 0.8, 1.2)
    y, t2 = augment.apply(x, t, augment.Plan(lead=0.2, tail=0.1, floor_db=-50, seed=2))
    lead = y[:int(0.2 * RATE)]
    assert t2.labels[0] == "sil" and t2.ends[0] == pytest.approx(0.2)
    level = 20 * np.log10(np.sqrt(np.mean(lead ** 2)) / 32768)
    assert level == pytest.approx(-50, abs=2) and np.count_nonzero(lead) > 0.9 * lead.size


@pytest.fixture(scope="module")
def festival_voices():
    voices = festival.available_voices()
    if not voices:
        pytest.skip(f"Festival is not installed: {festival.INSTALL}")
    return voices


def test_festival_speaks_each_voice_with_timings(festival_voices, tmp_path):
    text = 'He said "stop\\\\" (twice) -- then ran; 3 dogs.'  # quotes, backslash, parens
    jobs = [festival.FestivalJob(f"u{k}", v, text, 1.1, 120.0, 20.0)
            for k, v in enumerate(festival_voices)]
    out = festival.synthesize(jobs, tmp_path / "f")
    assert sorted(out) == sorted(j.utt_id for j in jobs)
    for spoken in out.values():
        t = spoken.timeline
        assert t.duration == pytest.approx(spoken.samples.size / spoken.rate)
        assert set(t.labels) <= set(PHONES) and t.labels[0] == "sil"
        assert {"s", "t", "aa", "d"} <= set(t.labels)
        assert np.all(np.diff(t.ends) >= 0)
    assert not list((tmp_path / "f").glob("*.wav"))  # its files are consumed


def test_festival_refuses_an_unknown_voice(festival_voices, tmp_path):
    with pytest.raises(CorpusError, match="unknown Festival voice"):
        festival.synthesize([festival.FestivalJob("u", "nope); (quit", "hi")], tmp_path)


def test_flite_speaks_each_voice_with_timings():
    if not flite.available():
        pytest.skip(f"Flite is not installed: {flite.INSTALL}")
    for voice in ("kal16", "awb", "rms", "slt"):
        s = flite.engine().synthesize(flite.FliteJob("u", voice, "The cat sat on the mat."))
        assert s.rate == 16000
        assert s.timeline.duration == pytest.approx(s.samples.size / 16000)
        assert [p for p in s.timeline.labels if p != "sil"] == \
            "dh ah k ae t s ae t aa n dh ah m ae t".split()
    with pytest.raises(CorpusError, match="unknown Flite voice"):
        flite.engine().synthesize(flite.FliteJob("u", "zz", "hi"))


def test_a_small_corpus_is_the_same_for_any_worker_count(needs_voices, tmp_path):
    import json

    from deepbrain.corpus.voices import SHARES, make_voices_corpus

    a = make_voices_corpus(tmp_path / "a", 14, seed=4, workers=2)
    make_voices_corpus(tmp_path / "b", 14, seed=4, workers=1)
    assert a.utterances == {"train": 12, "test": 2}
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and p.name not in ("corpus.json", "phones.scp",
                                                      "wav.scp"))
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    info = json.loads((tmp_path / "a" / "corpus.json").read_text())
    assert info["kind"] == "voices" and set(info["licences"]) >= {"espeak", "festival",
                                                                   "flite"}
    sources = [line.split()[1] for line in
               (tmp_path / "a" / "train" / "utt2source").read_text().splitlines()]
    assert set(sources) <= set(SHARES) and len(set(sources)) >= 2
    for line in (tmp_path / "a" / "train" / "utt2num_frames").read_text().splitlines():
        utt, n = line.split()
        wav = read_wav(tmp_path / "a" / "wav" / f"{utt}.wav")
        assert int(n) == (wav.samples.size - 400) // 160 + 1
