"""The command line: main(argv) -> exit code, one clear line per bad input, nothing half-written."""

import json

import kaldiio
import numpy as np
import pytest

from support import UTTS, speechlike, wav_bytes
from deepbrain.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_activations_on_the_golden_wavs(golden, golden_arks, tmp_path, capsys):
    out = tmp_path / "acts"
    wavs = [golden / "wav" / f"{u}.wav" for u in UTTS]
    code, stdout, err = run(capsys, "activations", *wavs, "--model", golden / "model", "--out",
                            out, "--engine", "numpy", "--keep-intermediate", "--output")
    assert code == 0, err
    assert "5 utterance(s), 1429 frames" in stdout and "engine numpy" in stdout
    assert "engine numpy: asked for" in err
    for k in (1, 2, 3):
        got = dict(kaldiio.load_scp(str(out / f"layer{k}.scp")))
        assert sorted(got) == list(UTTS)
        assert np.abs(got["utt1"] - golden_arks[f"layer{k}"]["utt1"]).max() <= 1e-4
    for stage in ("feats", "cmvn_feats", "spliced", "transformed", "nnet_input", "cmvn",
                  "output"):
        assert (out / f"{stage}.ark").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 1429 and summary["layers"] == {"1": 256, "2": 256, "3": 256}


def test_scp_and_layer_selection(golden, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(golden)
    out = tmp_path / "acts"
    code, stdout, _ = run(capsys, "activations", "--scp", "wav.scp", "--utt2spk", "utt2spk",
                          "--model", "model", "--out", out, "--layers", "1,3", "-q")
    assert code == 0
    assert sorted(p.name for p in out.glob("*.ark")) == ["layer1.ark", "layer3.ark"]


def test_info(golden, capsys):
    code, stdout, _ = run(capsys, "info", golden / "model")
    assert code == 0
    assert "final.nnet 440 -> 48, 8 components, 3 hidden layers" in stdout
    assert stdout.count("Sigmoid") == 3


@pytest.fixture
def wavs(tmp_path):
    d = tmp_path / "wavs"
    d.mkdir()
    x = speechlike(0.5)
    files = {
        "ok": wav_bytes(x),
        "notriff": b"OggS" + bytes(100),
        "empty": b"",
        "nosamples": wav_bytes(np.zeros(0)),
        "short": wav_bytes(x[:300]),
        "rate": wav_bytes(speechlike(0.5, 8000), rate=8000),
        "stereo": wav_bytes(np.stack([x, x], 1), channels=2),
        "b24": wav_bytes(x.astype(np.int64) * 256, bits=24),
        "f32": wav_bytes(x / 32768.0, bits=32, fmt_tag=3),
    }
    for name, data in files.items():
        (d / f"{name}.wav").write_bytes(data)
    return d


@pytest.mark.parametrize("wav,code,message", [
    ("missing", 3, "missing.wav: no such file"),
    ("notriff", 3, "notriff.wav: not a RIFF/WAVE file"),
    ("empty", 3, "empty.wav: not a RIFF/WAVE file (an empty file)"),
    ("nosamples", 3, "nosamples.wav: the wav holds no samples"),
    ("short", 3, "shorter than one 25 ms frame, so Kaldi gives zero frames"),
    ("rate", 3, "rate.wav: sample rate 8000 Hz, the model expects 16000 Hz; pass --resample"),
    ("stereo", 3, "stereo.wav: has 2 channels, expected mono; pass --channel N"),
])
def test_bad_wav_is_one_line_and_writes_nothing(wavs, tiny_model, tmp_path, capsys, wav, code,
                                                message):
    out = tmp_path / "out"
    rc, stdout, err = run(capsys, "activations", wavs / f"{wav}.wav", "--model", tiny_model,
                          "--out", out)
    assert rc == code
    lines = [l for l in err.splitlines() if l.startswith("deepbrain: error:")]
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.partial*"))


@pytest.mark.parametrize("wav,extra", [("rate", ["--resample"]), ("stereo", ["--channel", "1"]),
                                       ("b24", []), ("f32", [])])
def test_fixable_wavs_work_with_their_option(wavs, tiny_model, tmp_path, capsys, wav, extra):
    rc, stdout, err = run(capsys, "activations", wavs / f"{wav}.wav", "--model", tiny_model,
                          "--out", tmp_path / "out", *extra)
    assert rc == 0, err
    assert "48 frames" in stdout


def test_24bit_and_float_give_the_16bit_numbers(wavs, tiny_model, tmp_path, capsys):
    layers = {}
    for name in ("ok", "b24", "f32"):
        assert run(capsys, "activations", wavs / f"{name}.wav", "--model", tiny_model, "--out",
                   tmp_path / name)[0] == 0
        layers[name] = next(iter(dict(kaldiio.load_ark(str(tmp_path / name / "layer2.ark")))
                                 .values()))
    assert np.array_equal(layers["ok"], layers["b24"])
    assert np.array_equal(layers["ok"], layers["f32"])


def test_corrupt_nnet(wavs, tiny_model, tmp_path, capsys):
    data = (tiny_model / "final.nnet").read_bytes()
    (tiny_model / "final.nnet").write_bytes(data[:len(data) // 2])
    rc, _, err = run(capsys, "activations", wavs / "ok.wav", "--model", tiny_model, "--out",
                     tmp_path / "out")
    assert rc == 4 and "final.nnet: expected" in err and "truncated" in err
    assert len(err.strip().splitlines()) == 1


def test_nnet_input_dim_mismatch(wavs, tiny_model, tmp_path, capsys):
    from support import tiny_nnet
    from deepbrain.nnet1 import write_nnet
    write_nnet(tiny_nnet(dims=(64, 8, 8, 3)), tiny_model / "final.nnet")
    (tiny_model / "ali_train_pdf.counts").unlink()
    rc, _, err = run(capsys, "activations", wavs / "ok.wav", "--model", tiny_model, "--out",
                     tmp_path / "out")
    assert rc == 4
    assert "final.nnet: takes 64 inputs but gets final.feature_transform's 65 outputs" in err


def test_output_dir_with_results_needs_force(wavs, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["activations", wavs / "ok.wav", "--model", tiny_model, "--out", out]
    assert run(capsys, *args)[0] == 0
    before = (out / "layer1.ark").read_bytes()
    rc, _, err = run(capsys, *args)
    assert rc == 5 and "already holds results" in err and "--force" in err
    assert (out / "layer1.ark").read_bytes() == before
    assert run(capsys, *args, "--force")[0] == 0


def test_kaldi_engine_without_kaldi(wavs, tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KALDI_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    rc, _, err = run(capsys, "activations", wavs / "ok.wav", "--model", tiny_model, "--out",
                     tmp_path / "out", "--engine", "kaldi")
    assert rc == 6 and "Kaldi not found: set KALDI_ROOT" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["activations", "build-map"])
def test_cmd_is_for_the_kaldi_engine(wavs, tiny_model, tmp_path, capsys, command):
    args = ([command, wavs / "ok.wav"] if command == "activations" else
            [command, "--data", tmp_path, "--labels", tmp_path / "l.ark"]) + \
        ["--model", tiny_model, "--out", tmp_path / "out", "--engine", "numpy"]
    rc, _, err = run(capsys, *args, "--cmd", "slurm.pl --mem 2G")
    assert rc == 1 and "--cmd runs the Kaldi engine's jobs, but the engine is numpy" in err
    rc, _, err = run(capsys, *args, "--cmd", " ")
    assert rc == 1 and "--cmd is empty" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_doctor(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("KALDI_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    rc, out, _ = run(capsys, "doctor")
    assert rc == 0
    assert "kaldi      not found" in out and "auto       engine numpy" in out
    assert "kaldi_recipes" in out


def test_usage_errors(capsys, tiny_model, tmp_path):
    rc, _, err = run(capsys, "activations", "--model", tiny_model, "--out", tmp_path / "o")
    assert rc == 1 and "give either WAV files or --scp" in err
    with pytest.raises(SystemExit) as e:
        main(["activations", "x.wav", "--model", "m", "--out", "o", "--layers", "0"])
    assert e.value.code == 2


def test_traceback_flag_reraises(tmp_path):
    from deepbrain.errors import ModelError
    with pytest.raises(ModelError):
        main(["--traceback", "info", str(tmp_path / "none")])


def test_console_script_runs(tiny_model):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "deepbrain", "info", str(tiny_model)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 hidden layers" in r.stdout


def test_no_model_means_the_demo_model_and_says_so(tmp_path, capsys):
    from deepbrain.resources import demo_model_dir

    code, stdout, _ = run(capsys, "models")
    assert code == 0 and str(demo_model_dir()) in stdout
    code, stdout, _ = run(capsys, "info")
    assert code == 0 and "the demo model that ships with deepbrain" in stdout
    wav = sorted((demo_model_dir() / "examples").glob("*.wav"))[0]
    code, stdout, err = run(capsys, "activations", wav, "--out", tmp_path / "o", "--engine",
                            "numpy", "--layers", "1")
    assert code == 0, err
    assert f"no --model given: using the demo model at {demo_model_dir()}" in err


def test_a_recipes_override_that_is_wrong_is_named(tmp_path, monkeypatch):
    from deepbrain.errors import KaldiError
    from deepbrain.resources import recipes_dir

    monkeypatch.setenv("DEEPBRAIN_KALDI_RECIPES", str(tmp_path))
    with pytest.raises(KaldiError, match="DEEPBRAIN_KALDI_RECIPES has no getact.sh"):
        recipes_dir()
