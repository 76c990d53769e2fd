"""Hostile nnet3 model dirs and inputs from the command line: a truncated final.mdl, a
half-present i-vector extractor, NaN in an i-vector ark, odd file names. Each is one line on
stderr with its documented exit code (4 model/format, 1 usage), and nothing half-written:
no --out made, earlier results untouched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from deepbrain.cli import main
from support import speechlike, wav_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nnet3"))
from cli_models import synthetic_model_dir, write_ivectors


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepbrain: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def setup(tmp_path):
    model = synthetic_model_dir(tmp_path / "nnet3")
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    write_ivectors(tmp_path / "iv.ark", {"speech": 98})
    return model, wav, tmp_path / "iv.ark"


def activations(capsys, model, wav, out, *more, engine="numpy"):
    return run(capsys, "activations", wav, "--model", model, "--out", out, "--engine",
               engine, "-q", *more)


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_a_truncated_final_mdl(capsys, setup, tmp_path, keep):
    model, wav, ark = setup
    mdl = model / "final.mdl"
    data = mdl.read_bytes()
    mdl.write_bytes(data[:int(len(data) * keep)])
    code, out, err = activations(capsys, model, wav, tmp_path / "out", "--ivectors", ark)
    line = one_line(err)
    assert code == 4 and out == "" and str(mdl) in line
    assert not (tmp_path / "out").exists()
    code, out, err = run(capsys, "info", model)
    assert code == 4 and out == "" and str(mdl) in one_line(err)


def test_a_half_present_extractor_and_no_mfcc_conf_are_listed_together(capsys, setup,
                                                                        tmp_path):
    model, wav, _ = setup
    (model / "conf" / "mfcc.conf").unlink()
    (model / "ivector").mkdir()
    (model / "ivector" / "final.ie").write_bytes(b"")
    code, out, err = activations(capsys, model, wav, tmp_path / "out")
    line = one_line(err)
    assert code == 4 and out == "" and "problem(s)" in line
    for name in ("conf/mfcc.conf", "ivector/final.mat", "ivector/final.dubm",
                 "ivector/global_cmvn.stats", "splice.conf or splice_opts"):
        assert name in line
    assert not (tmp_path / "out").exists()
    code, _, err = run(capsys, "info", model)
    assert code == 4 and "ivector/final.dubm" in one_line(err)


def test_an_extractor_that_is_missing_entirely(capsys, setup, tmp_path):
    model, wav, _ = setup
    code, _, err = activations(capsys, model, wav, tmp_path / "out")
    assert code == 4 and "an i-vector extractor" in one_line(err)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("engine", ["numpy", pytest.param("kaldi", marks=pytest.mark.kaldi)])
def test_nan_in_an_ivector_ark_writes_nothing(capsys, tmp_path, bad, engine):
    model = synthetic_model_dir(tmp_path / "nnet3", raw=engine == "kaldi")
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    ark = tmp_path / "iv.ark"
    write_ivectors(ark, {"speech": 98})
    out = tmp_path / "out"
    code, _, err = activations(capsys, model, wav, out, "--ivectors", ark, engine=engine)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    mats = {k: np.array(v) for k, v in kaldiio.load_ark(str(ark))}
    mats["speech"][3, 2] = bad
    kaldiio.save_ark(str(tmp_path / "nan.ark"), mats)
    code, stdout, err = activations(capsys, model, wav, out, "--ivectors",
                                    tmp_path / "nan.ark", "--force", engine=engine)
    line = one_line(err)
    assert code == 4 and stdout == "" and "nan.ark" in line and "speech" in line
    assert "finite" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched


@pytest.mark.parametrize("what, says", [
    ("missing", "has no i-vectors for utterance speech"),
    ("dims", "have 4 dims"),
    ("garbage", "not a readable Kaldi ark/scp"),
    ("none", "no such file"),
])
def test_ivectors_that_do_not_fit(capsys, setup, tmp_path, what, says):
    model, wav, _ = setup
    ark = tmp_path / "bad.ark"
    if what == "missing":
        write_ivectors(ark, {"other": 98})
    elif what == "dims":
        kaldiio.save_ark(str(ark), {"speech": np.ones((10, 4), np.float32)})
    elif what == "garbage":
        ark.write_bytes(b"speech \0BFM \x04\xff\xff")
    code, _, err = activations(capsys, model, wav, tmp_path / "out", "--ivectors", ark)
    assert code == 4 and says in one_line(err)
    assert not (tmp_path / "out").exists()


def test_ivectors_that_end_too_soon(capsys, setup, tmp_path):
    model, wav, _ = setup
    kaldiio.save_ark(str(tmp_path / "short.ark"), {"speech": np.ones((2, 5), np.float32)})
    code, _, err = activations(capsys, model, wav, tmp_path / "out", "--ivectors",
                               tmp_path / "short.ark")
    assert code == 4 and "i-vectors cover 2 x 10 frames" in one_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.kaldi
def test_ivectors_that_end_too_soon_in_the_kaldi_engine(capsys, tmp_path):
    """Kaldi's own check fires: a failed stage (exit 6) with its command, log and ERROR."""
    model = synthetic_model_dir(tmp_path / "nnet3", raw=True)
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    kaldiio.save_ark(str(tmp_path / "short.ark"), {"speech": np.ones((2, 5), np.float32)})
    code, out, err = activations(capsys, model, wav, tmp_path / "out", "--ivectors",
                                 tmp_path / "short.ark", engine="kaldi")
    assert code == 6 and out == "" and "Traceback" not in err
    assert err.startswith("deepbrain: error: Kaldi stage forward failed (exit 255): "
                          "nnet3-compute ")
    assert "Could not get iVector for frame" in err
    assert not (tmp_path / "out").exists()


ODD = ["a b.wav", "quote'$(touch PWNED).wav", "ünïcödé 한국어.wav", "semi;colon&amp.wav",
       "tab\there.wav", "-leading-dash.wav"]


def odd_setup(tmp_path, raw=False):
    model = synthetic_model_dir(tmp_path / "mo del $(touch PWNED)", raw=raw)
    wavs = []
    for i, name in enumerate(ODD):
        wavs.append(tmp_path / name)
        wavs[-1].write_bytes(wav_bytes(speechlike(1.0, seed=i)))
    ids = ["a_b", "quote'$(touch_PWNED)", "ünïcödé_한국어", "semi;colon&amp", "tab_here",
           "-leading-dash"]
    write_ivectors(tmp_path / "iv $x.ark", {u: 98 for u in ids})
    return model, wavs, ids, tmp_path / "iv $x.ark"


def run_odd(capsys, tmp_path, engine, raw=False, out_name="out 'x' $(touch PWNED)"):
    model, wavs, ids, ark = odd_setup(tmp_path, raw)
    out = tmp_path / out_name
    code, _, err = run(capsys, "activations", *[f"./{w.name}" for w in wavs], "--model",
                       model, "--out", out, "--engine", engine, "--ivectors", ark,
                       "--layers", "2", "-q")
    assert code == 0, err
    got = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(out / "layer2.scp")).items()}
    assert sorted(got) == sorted(ids) and all(m.shape[0] == 98 for m in got.values())
    assert json.loads((out / "summary.json").read_text())["layer_names"] == {"2": "tdnnf2.relu"}
    assert not list(tmp_path.rglob("PWNED"))
    return got


def test_odd_file_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_odd(capsys, tmp_path, "numpy")


@pytest.mark.kaldi
def test_odd_file_names_in_the_kaldi_engine(capsys, tmp_path, monkeypatch):
    """final.raw: nettools' transition model is not one Kaldi's HmmTopology accepts."""
    monkeypatch.chdir(tmp_path)
    kaldi = run_odd(capsys, tmp_path, "kaldi", raw=True)
    (tmp_path / "mo del $(touch PWNED)").rename(tmp_path / "used")
    numpy = run_odd(capsys, tmp_path, "numpy", raw=True, out_name="numpy out")
    for utt, m in kaldi.items():
        np.testing.assert_allclose(m, numpy[utt], rtol=1e-4, atol=1e-4 * np.abs(m).max())
