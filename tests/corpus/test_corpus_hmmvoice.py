"""The model voice: spectra drawn from pocketsphinx's en-us acoustic model, frame for frame
with given labels; its model files read with clean errors when damaged."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deepbrain.corpus import hmmvoice
from deepbrain.corpus.errors import CorpusError
from deepbrain.corpus.phones import PHONE_IDS, PHONES
from deepbrain.corpus.timeline import Timeline, from_frame_ids

FILES = ("feat.params", "mdef", "means", "variances", "sendump")


def _model_dir() -> Path:
    from deepbrain.align import why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us" / "en-us"


@pytest.fixture(scope="module")
def model():
    return hmmvoice.load(_model_dir())


@pytest.fixture
def copy(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    for name in FILES:
        shutil.copy(_model_dir() / name, d / name)
    return d


def _frames(*runs: tuple[str, int]) -> list[str]:
    return [p for p, n in runs for _ in range(n)]


def _band_share(y: np.ndarray, frames: range, lo: float) -> float:
    """Share of the power of ``frames`` (25 ms windows) above ``lo`` Hz."""
    x = np.concatenate([y[160 * t:160 * t + 400] * np.hanning(400) for t in frames])
    p = np.abs(np.fft.rfft(x.reshape(-1, 400), axis=1)) ** 2
    f = np.fft.rfftfreq(400, 1 / 16000)
    return float(p[:, f > lo].sum() / p.sum())


def test_the_model_is_read_as_pocketsphinx_reads_it(model):
    assert {"SIL", "AA", "S", "IY", "ZH"} <= set(model.phones)
    assert model.means.shape == model.stds.shape == (len(model.phones), 128, 13)
    np.testing.assert_allclose(model.weights.sum(axis=0), 1.0, atol=0.1)
    aa = model.phones.index("AA")
    assert list(model.ci_senones[aa]) == [3 * aa, 3 * aa + 1, 3 * aa + 2]
    tri = model.senones("AA", "K", "T")
    assert len(tri) == 3 and not set(tri) & set(model.ci_senones[aa])
    assert list(model.senones("AA", "K", "T")) != list(model.senones("AA", "M", "N"))


def test_speech_has_the_length_and_the_spectra_of_its_labels(model):
    labels = _frames(("sil", 30), ("s", 20), ("iy", 25), ("sil", 30))
    y = hmmvoice.speak(labels, np.random.default_rng(1), model)
    assert y.size == 160 * (len(labels) - 1) + 400
    assert np.isfinite(y).all() and np.abs(y).max() <= 32768
    energy = lambda frames: float(np.mean(np.concatenate(  # noqa: E731
        [y[160 * t:160 * t + 400] for t in frames]) ** 2))
    assert energy(range(57, 72)) > 30 * energy(range(5, 25))   # the vowel over the silence
    assert _band_share(y, range(33, 48), 3500) > 0.5            # /s/: hiss high up
    assert _band_share(y, range(57, 72), 3500) < 0.2            # /iy/: voiced, low


def test_the_voice_is_seeded(model):
    labels = _frames(("sil", 10), ("ah", 10), ("sil", 5))
    a = hmmvoice.speak(labels, np.random.default_rng(3), model)
    b = hmmvoice.speak(labels, np.random.default_rng(3), model)
    c = hmmvoice.speak(labels, np.random.default_rng(4), model)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_aligner_hears_what_the_model_voice_says():
    """pocketsphinx aligning its own model's speech puts most frames where the labels are."""
    from deepbrain import align
    from deepbrain.audio import Audio

    _model_dir()
    text = "seven green apples"
    words = _frames(("sil", 25), ("s", 12), ("eh", 8), ("v", 6), ("ah", 5), ("n", 8),
                    ("g", 6), ("r", 6), ("iy", 12), ("n", 7), ("ae", 12), ("p", 9),
                    ("ah", 5), ("l", 7), ("z", 12), ("sil", 25))
    y = hmmvoice.speak(words, np.random.default_rng(0))
    segs = align.align_audio(Audio(y.astype(np.float32), 16000, "u", as_on_disk=False), text)
    heard = [s.phone for s in segs for _ in range(s.end - s.start)]
    n = min(len(heard), len(words))
    agree = np.mean([a == b for a, b in zip(heard[:n], words[:n])])
    assert agree > 0.75


def test_respoken_audio_keeps_the_labels_frame_for_frame():
    from deepbrain.corpus.voices import respoken

    _model_dir()
    tl = Timeline(("sil", "k", "ae", "t", "sil"), np.array([0.2, 0.27, 0.41, 0.5, 0.83]))
    x = np.zeros(int(0.83 * 16000))
    n = (x.size - 400) // 160 + 1
    y, new = respoken(x, tl, seed=9)
    assert (y.size - 400) // 160 + 1 == n
    assert np.array_equal(new.frame_ids(n), tl.frame_ids(n))


def test_frame_timeline_round_trips():
    ids = np.array([PHONE_IDS[p] for p in _frames(("sil", 3), ("b", 1), ("iy", 4), ("sil", 2))])
    tl = from_frame_ids(ids, PHONES, 0.115)
    assert np.array_equal(tl.frame_ids(ids.size), ids) and tl.duration == 0.115
    with pytest.raises(CorpusError):
        from_frame_ids(np.array([], dtype=int), PHONES, 0.0)


def test_labels_it_cannot_say_are_clean_errors(model):
    with pytest.raises(CorpusError, match="at least one frame"):
        hmmvoice.speak([], np.random.default_rng(0), model)
    with pytest.raises(CorpusError, match="'xx'"):
        hmmvoice.speak(["sil", "xx"], np.random.default_rng(0), model)


@pytest.mark.parametrize("name", ["mdef", "means", "variances", "sendump"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_model_file_is_named(copy, name, damage):
    path = copy / name
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                      "garbage": bytes(np.random.default_rng(0).integers(0, 256, 4096,
                                                                         dtype=np.uint8))
                      }[damage])
    with pytest.raises(CorpusError, match=name):
        hmmvoice.load(copy)


def test_non_finite_or_negative_variances_are_refused(copy):
    path = copy / "variances"
    data = bytearray(path.read_bytes())
    start = data.index(b"endhdr\n") + 7 + 4 * 7   # magic, 3 sizes, 3 lengths, the total
    for value, what in ((np.float32("nan"), "non-finite"), (np.float32(-1.0), "negative")):
        bad = bytearray(data)
        bad[start + 400:start + 404] = value.tobytes()
        path.write_bytes(bytes(bad))
        with pytest.raises(CorpusError, match="variances"):
            hmmvoice.load(copy)


def test_another_front_end_is_refused(copy):
    p = copy / "feat.params"
    p.write_text(p.read_text().replace("-nfilt 25", "-nfilt 40"))
    with pytest.raises(CorpusError, match="-nfilt"):
        hmmvoice.load(copy)
    (copy / "feat.params").unlink()
    with pytest.raises(CorpusError, match="feat.params"):
        hmmvoice.load(copy)
