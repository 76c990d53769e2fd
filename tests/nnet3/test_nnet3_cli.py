"""nnet3 model dirs from the command line: ``deepbrain info`` and ``deepbrain activations``
(numpy engine here; the Kaldi engine against it in test_nnet3_cli_kaldi.py), and the window
and build-map refusing them in one line."""

from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest
from cli_models import synthetic_model_dir, write_ivectors
from deepbrain.audio import read_wav
from deepbrain.cli import main
from deepbrain.features import compute_mfcc_feats
from deepbrain.nnet3.modeldir import (
    find_nnet3_model,
    load_hires_mfcc_options,
    load_ivector_extractor,
    load_network,
)
from nettools import LAYERS
from speech import make_wavs
from support import speechlike, wav_bytes


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_table(out, name):
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(out / f"{name}.scp")).items()}


@pytest.fixture
def synthetic(tmp_path):
    model = synthetic_model_dir(tmp_path / "nnet3-model")
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speechlike(1.0)))
    mats = write_ivectors(tmp_path / "iv.ark", {"speech": 98})
    return model, wav, tmp_path / "iv.ark", mats


def direct(model_dir, wav, layers, ivectors=None, extractor=None):
    """The library called by hand: what the CLI must write."""
    files = find_nnet3_model(model_dir)
    net = load_network(files)
    feats = compute_mfcc_feats(read_wav(wav), load_hires_mfcc_options(files.mfcc_conf))
    if ivectors is None and extractor:
        ivectors = load_ivector_extractor(files.ivector).extract(feats)
    return net.propagate_layers(feats, layers, output=True, ivectors=ivectors,
                                ivector_period=10, frames_per_chunk=50)


# -- a small network made without Kaldi ------------------------------------------------------

def test_info_of_a_small_kaldi_dir(capsys, synthetic):
    model, *_ = synthetic
    code, out, err = run(capsys, "info", model)
    assert code == 0 and err == ""
    assert "kind       nnet3 (final.mdl), 5 hidden layers" in out
    assert "input      MFCC 6 dims (16000 Hz, 10 ms), i-vector 5 dims every 10 frames" in out
    assert "frame subsampling factor: 3 (frame_subsampling_factor)" in out
    assert "no i-vector extractor in the dir: pass i-vectors with --ivectors" in out
    for k, name in enumerate(LAYERS, 1):
        assert f"layer {k:<2}" in out and name in out
    assert "maps       none: make them with deepbrain build-map --unlabelled" in out


def test_activations_with_given_ivectors(capsys, synthetic, tmp_path):
    model, wav, ark, mats = synthetic
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "activations", wav, "--model", model, "--out", out,
                            "--engine", "numpy", "--ivectors", ark, "--output", "-q")
    assert code == 0, err
    assert "1 utterance(s), 98 frames" in stdout and "5 layer(s)" in stdout
    layers, output = direct(model, wav, range(1, 6), ivectors=mats["speech"])
    for k in range(1, 6):
        got = read_table(out, f"layer{k}")["speech"]
        np.testing.assert_allclose(got, layers[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read_table(out, "output")["speech"], output, rtol=1e-5,
                               atol=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_kind"] == "nnet3" and summary["engine"] == "numpy"
    assert summary["layer_names"] == {str(k): n for k, n in enumerate(LAYERS, 1)}
    assert summary["frame_subsampling_factor"] == 3
    assert summary["ivectors"].startswith("given: ") and summary["frames"] == 98
    assert (out / "utt2num_frames").read_text() == "speech 98\n"


def test_some_layers_from_an_scp(capsys, synthetic, tmp_path):
    model, wav, _, _ = synthetic
    mats = write_ivectors(tmp_path / "iv2.ark", {"speech": 98}, period=5, scp=True)
    out = tmp_path / "out"
    code, _, err = run(capsys, "activations", wav, "--model", model, "--out", out, "--engine",
                       "numpy", "--ivectors", tmp_path / "iv2.scp", "--ivector-period", 5,
                       "--layers", "2,5", "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.scp")) == ["layer2.scp", "layer5.scp"]
    files = find_nnet3_model(model)
    feats = compute_mfcc_feats(read_wav(wav), load_hires_mfcc_options(files.mfcc_conf))
    want, _ = load_network(files).propagate_layers(feats, (2, 5), ivectors=mats["speech"],
                                                   ivector_period=5)
    np.testing.assert_allclose(read_table(out, "layer5")["speech"], want[5], rtol=1e-5,
                               atol=1e-6)
    assert json.loads((out / "summary.json").read_text())["layer_names"] == \
        {"2": LAYERS[1], "5": LAYERS[4]}


def test_layers_by_node_name(capsys, synthetic, tmp_path):
    """--layers takes an nnet3 model's node names (as info lists them), mixed with numbers."""
    model, wav, ark, _ = synthetic
    out = tmp_path / "out"
    code, _, err = run(capsys, "activations", wav, "--model", model, "--out", out, "--engine",
                       "numpy", "--ivectors", ark, "--layers", f"{LAYERS[4]},1,{LAYERS[1]}",
                       "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.scp")) == ["layer1.scp", "layer2.scp",
                                                         "layer5.scp"]
    assert json.loads((out / "summary.json").read_text())["layer_names"] == \
        {"1": LAYERS[0], "2": LAYERS[1], "5": LAYERS[4]}


def test_an_unknown_node_name_lists_the_layers(capsys, synthetic, tmp_path):
    model, wav, ark, _ = synthetic
    out = tmp_path / "out"
    code, _, err = run(capsys, "activations", wav, "--model", model, "--out", out, "--engine",
                       "numpy", "--ivectors", ark, "--layers", "tdnn9.relu", "-q")
    assert code == 1 and not out.exists() and err.count("\n") == 1
    assert "no hidden layer named 'tdnn9.relu'" in err and ", ".join(LAYERS) in err


def test_node_names_on_an_nnet1_model_say_to_use_numbers(capsys, tiny_model, tmp_path):
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(speechlike(0.5)))
    code, _, err = run(capsys, "activations", wav, "--model", tiny_model, "--out",
                       tmp_path / "o", "--engine", "numpy", "--layers", "relu1", "-q")
    assert code == 1 and "its layers have no names: choose numbers" in err


def test_without_ivectors_the_missing_extractor_is_named(capsys, synthetic, tmp_path):
    model, wav, *_ = synthetic
    code, out, err = run(capsys, "activations", wav, "--model", model, "--out", tmp_path / "o")
    assert code == 4 and out == "" and len(err.splitlines()) == 1
    assert "an i-vector extractor" in err and "--ivectors" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, says", [
    (["--keep-intermediate", "--ivectors", "IV"],
     "--keep-intermediate writes the stages of an nnet1 front end"),
    (["--ivector-period", "5"], "--ivector-period goes with --ivectors"),
])
def test_options_that_do_not_fit_an_nnet3_model(capsys, synthetic, tmp_path, argv, says):
    model, wav, ark, _ = synthetic
    argv = [ark if a == "IV" else a for a in argv]
    code, _, err = run(capsys, "activations", wav, "--model", model, "--out", tmp_path / "o",
                       "--engine", "numpy", *argv)
    assert code == 1 and says in err and len(err.splitlines()) == 1


def test_ivectors_are_refused_for_an_nnet1_model(capsys, tiny_model, synthetic, tmp_path):
    _, wav, ark, _ = synthetic
    code, _, err = run(capsys, "activations", wav, "--model", tiny_model, "--out",
                       tmp_path / "o", "--ivectors", ark)
    assert code == 1 and "--ivectors and --ivector-period are for nnet3 models" in err


def test_labelled_build_map_says_not_yet_and_names_unlabelled(capsys, synthetic, tmp_path):
    model, *_ = synthetic
    code, out, err = run(capsys, "build-map", "--model", model, "--data", tmp_path,
                         "--labels", tmp_path / "x.ark", "--out", tmp_path / "maps")
    assert code == 4 and out == "" and len(err.splitlines()) == 1
    assert "an nnet3 model;" in err and "nnet1 models only for now" in err
    assert "'build-map --unlabelled'" in err
    assert not (tmp_path / "maps").exists()


def test_load_model_refuses_an_nnet3_dir_in_one_line(synthetic):
    from deepbrain.errors import ModelError
    from deepbrain.model import load_model

    model, *_ = synthetic
    with pytest.raises(ModelError, match="an nnet3 model; this part of deepbrain .* reads "
                                         "nnet1 models only for now"):
        load_model(model)


# -- the Vosk Korean model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def alsa_wav(tmp_path_factory):
    wavs = make_wavs(tmp_path_factory.mktemp("wavs"))
    if not wavs:
        pytest.skip("no alsa recordings and no espeak-ng to make speech with")
    return wavs[0]


def test_vosk_info(capsys, vosk_model):
    code, out, err = run(capsys, "info", vosk_model)
    assert code == 0 and err == ""
    assert "kind       nnet3 (am/final.mdl), 16 hidden layers" in out
    assert "MFCC 40 dims (16000 Hz, 10 ms), i-vector 100 dims every 10 frames" in out
    assert "context    34 frames left, 34 right" in out
    assert "ivector-extract-online2 from ivector/ (Vosk layout" in out
    assert "layer 16   768 units  prefinal-chain.relu" in out


def test_vosk_activations_numpy(capsys, vosk_model, alsa_wav, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "activations", alsa_wav, "--model", vosk_model, "--out",
                            out, "--engine", "numpy", "--layers", "1,9,16", "--output")
    assert code == 0, err
    assert "engine numpy" in err and "3 layer(s) (units 1:768, 9:768, 16:768)" in stdout
    layers, output = direct(vosk_model, alsa_wav, (1, 9, 16), extractor=True)
    for k in (1, 9, 16):
        got = read_table(out, f"layer{k}")[alsa_wav.stem]
        np.testing.assert_allclose(got, layers[k], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(read_table(out, "output")[alsa_wav.stem], output, rtol=1e-5,
                               atol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layer_names"] == {"1": "tdnn1.relu", "9": "tdnnf9.relu",
                                      "16": "prefinal-chain.relu"}
    assert "Vosk layout" in summary["ivectors"]
    # --force replaces, the same writer as nnet1 results
    code, _, err = run(capsys, "activations", alsa_wav, "--model", vosk_model, "--out", out,
                       "--engine", "numpy", "--layers", "16", "-q")
    assert code == 5 and "already holds results" in err
