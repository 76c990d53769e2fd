"""deepbrain.evaluate and ``deepbrain evaluate``: the figures against an independent count,
labels from a data dir or from aligning wavs (synthetic always, real when alsa-utils is
installed), and clean one-line errors for hostile input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from deepbrain import align
from deepbrain.audio import read_wav
from deepbrain.cli import main
from deepbrain.errors import FormatError, ModelError
from deepbrain.evaluate import Scorer, model_phones, plot_confusion
from deepbrain.model import load_model
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs
from support import ROOT, speechlike, wav_bytes

DEMO = ROOT / "models" / "demo"
ALSA = Path("/usr/share/sounds/alsa")
NAMES = ("sil", "aa", "b", "d", "eh", "f", "g", "iy", "k", "s")


def _named_model(tiny_model: Path) -> Path:
    (tiny_model / "phones.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(NAMES)))
    return tiny_model


def _data_dir(tmp_path: Path, wavs: dict[str, Path], labels: dict[str, np.ndarray]) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in wavs.items()))
    kaldiio.save_ark(str(d / "phones.ark"), {u: np.asarray(v, np.int32)
                                            for u, v in labels.items()},
                     scp=str(d / "phones.scp"))
    (d / "phones.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(NAMES)))
    return d


def test_scorer_counts_speech_and_silence_apart():
    s = Scorer(["sil", "a", "b"])
    s.add(["sil", "sil", "a", "a", "b", "zz"], np.array([0, 1, 1, 2, 2, 0]), "u", "x")
    sc = s.scores()
    assert sc.phones == ("sil", "a", "b", "zz") and sc.frames == 6 and sc.utterances == 1
    assert sc.silence_frames == (2, 0.5)
    assert sc.speech == (4, 0.5)  # a: 1 of 2, b: 1 of 1, zz (not an output): 0 of 1
    assert sc.per_phone() == {"sil": (2, 0.5), "a": (2, 0.5), "b": (1, 1.0), "zz": (1, 0.0)}
    assert abs(sc.accuracy - 3 / 6) < 1e-12
    with pytest.raises(FormatError, match="u has 20 labels for 6 frames"):
        s.add(["a"] * 20, np.zeros(6, int), "u", "x")
    s.add(["a"] * 8, np.ones(6, int), "v", "x")  # within 5 frames: the overlap is scored
    assert s.scores().per_phone()["a"] == (8, 7 / 8)  # 1 of 2, then 6 of 6


def test_figures_equal_an_independent_count(tiny_model, tmp_path, capsys):
    model_dir = _named_model(tiny_model)
    wavs = {}
    for k in range(2):
        p = tmp_path / f"u{k}.wav"
        p.write_bytes(wav_bytes(speechlike(1.0 + 0.3 * k, seed=k)))
        wavs[f"u{k}"] = p
    model = load_model(model_dir)
    acts = {a.utt_id: a.output.argmax(axis=1) for a in compute_activations(
        utterances_from_wavs(wavs.values()), model, Request((1,), output=True), "numpy")}
    rng = np.random.default_rng(0)
    labels = {u: np.where(rng.random(p.size) < 0.5, p, rng.integers(0, 10, p.size))
              for u, p in acts.items()}
    d = _data_dir(tmp_path, wavs, labels)
    js, png = tmp_path / "r.json", tmp_path / "cm.png"
    assert main(["evaluate", "--model", str(model_dir), "--data", str(d), "--labels",
                 str(d / "phones.scp"), "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    y = np.concatenate([labels[u] for u in sorted(labels)])
    p = np.concatenate([acts[u] for u in sorted(acts)])
    speech, sil = y != 0, y == 0
    r = json.loads(js.read_text())
    assert r["frames"] == y.size and r["speech_frames"] == int(speech.sum())
    assert r["speech_accuracy"] == pytest.approx((p == y)[speech].mean())
    assert r["silence_accuracy"] == pytest.approx((p == y)[sil].mean())
    assert f"{100 * (p == y)[speech].mean():5.1f} %" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_needs_phone_names_matching_its_outputs(tiny_model):
    with pytest.raises(ModelError, match="no phones.txt"):
        model_phones(load_model(tiny_model))
    (tiny_model / "phones.txt").write_text("a 0\nb 1\n")
    with pytest.raises(ModelError, match="names 2 phones, the network has 10 outputs"):
        model_phones(load_model(tiny_model))


def test_bad_labels_and_arguments_give_one_line_errors(tiny_model, tmp_path, capsys):
    model = str(_named_model(tiny_model))
    wav = tmp_path / "u.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    d = _data_dir(tmp_path, {"u": wav}, {"u": np.zeros(98, np.int32)})
    cases = [
        (["--data", str(d)], 1, "--labels"),
        (["--data", str(d), "--labels", str(d / "phones.ark"), str(wav)], 1, "not with WAVs"),
        ([], 1, "give WAVs"),
    ]
    (tmp_path / "garbage.ark").write_bytes(b"\x00\xff" * 50)
    cases.append((["--data", str(d), "--labels", str(tmp_path / "garbage.ark")], 4,
                  "garbage.ark"))
    short = tmp_path / "short"
    short.mkdir()
    kaldiio.save_ark(str(short / "phones.ark"), {"u": np.zeros(40, np.int32)})
    (short / "phones.txt").write_text((d / "phones.txt").read_text())
    cases.append((["--data", str(d), "--labels", str(short / "phones.ark")], 4,
                  "40 labels for 98 frames"))
    big = tmp_path / "bigid"
    big.mkdir()
    kaldiio.save_ark(str(big / "phones.ark"), {"u": np.full(98, 77, np.int32)})
    (big / "phones.txt").write_text((d / "phones.txt").read_text())
    cases.append((["--data", str(d), "--labels", str(big / "phones.ark")], 4, "phone id 77"))
    other = tmp_path / "other"
    other.mkdir()
    kaldiio.save_ark(str(other / "phones.ark"), {"v": np.zeros(98, np.int32)})
    (other / "phones.txt").write_text((d / "phones.txt").read_text())
    cases.append((["--data", str(d), "--labels", str(other / "phones.ark")], 4,
                  "no labels for 1 utterance(s): u"))
    bad_table = tmp_path / "badtable"
    bad_table.mkdir()
    shutil.copy(d / "phones.ark", bad_table / "phones.ark")
    (bad_table / "phones.txt").write_bytes(b"sil \xff\n")
    cases.append((["--data", str(d), "--labels", str(bad_table / "phones.ark")], 4,
                  "phones.txt"))
    for extra, code, needle in cases:
        assert main(["evaluate", "--model", model, *extra]) == code, extra
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, (extra, err)


def test_plot_needs_no_display(tmp_path):
    s = Scorer(["sil", "a"])
    s.add(["sil", "a", "a"], np.array([0, 1, 0]), "u", "x")
    path = plot_confusion(s.scores(), tmp_path / "c.png", "t")
    assert path.stat().st_size > 1000


@pytest.fixture(scope="module")
def aligner():
    reason = align.why_unavailable()
    if reason:
        pytest.skip(reason)


def test_evaluate_wavs_with_their_words_synthetic(aligner, tmp_path, capsys):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = tmp_path / "cat.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "the cat sat on the mat"],
                   check=True, capture_output=True)
    js = tmp_path / "r.json"
    assert main(["evaluate", str(wav), "--text", "the cat sat on the mat", "--model",
                 str(DEMO), "--resample", "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    assert r["utterances"] == 1 and r["speech_frames"] > 50 and r["silence_frames"] > 0
    assert set(r["per_phone"]) >= {"k", "ae", "t", "s", "m", "dh"}
    assert "speech frames" in capsys.readouterr().out


def test_evaluate_a_real_recording(aligner, tmp_path, capsys):
    wav = ALSA / "Front_Left.wav"
    if not wav.is_file():
        pytest.skip("alsa-utils is not installed (apt-get install alsa-utils): no real clip")
    js = tmp_path / "r.json"
    assert main(["evaluate", str(wav), "--text", "front left", "--model", str(DEMO),
                 "--resample", "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    audio = read_wav(wav)
    assert r["frames"] == align.num_frames(audio.samples.size, audio.sample_rate)
    assert 0 <= r["speech_accuracy"] <= 1 and r["speech_frames"] > 50
    # without --resample a 48 kHz recording is refused with the fix
    assert main(["evaluate", str(wav), "--text", "front left", "--model", str(DEMO)]) == 3
    assert "--resample" in capsys.readouterr().err


def test_evaluate_names_words_it_cannot_align(aligner, tmp_path, capsys):
    wav = tmp_path / "noise.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    assert main(["evaluate", str(wav), "--text", "zzyzxq", "--model", str(DEMO)]) == 1
    err = capsys.readouterr().err
    assert "zzyzxq" in err and "nothing to score" in err
