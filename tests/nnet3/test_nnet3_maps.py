"""``build-map --unlabelled``: maps of nnet3 (and nnet1) models from a corpus without phone
labels, written as the labelled ones (lda/K/vertices, indices, summary.json), then read back
by ``deepbrain info`` and the model loader the window uses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_models import MAPPABLE_LAYERS, mappable_model_dir
from deepbrain.audio import read_wav
from deepbrain.cli import main
from deepbrain.features import compute_mfcc_feats
from deepbrain.maps.unlabelled import TimeCourseStats
from deepbrain.model import load_any_model
from deepbrain.nnet3.modeldir import (
    find_nnet3_model,
    load_hires_mfcc_options,
    load_network,
)
from support import speechlike, wav_bytes, write_tiny_model


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six speech-like utterances (1-2 s) in a Kaldi data dir."""
    d = tmp_path_factory.mktemp("corpus") / "data"
    d.mkdir()
    scp = []
    for i in range(6):
        wav = d / f"u{i}.wav"
        wav.write_bytes(wav_bytes(speechlike(1.0 + 0.2 * i, seed=10 + i)))
        scp.append(f"u{i} {wav}\n")
    (d / "wav.scp").write_text("".join(scp))
    return d


def test_nnet3_maps_go_into_the_model_dir_and_the_window_can_read_them(capsys, corpus,
                                                                         tmp_path):
    model = mappable_model_dir(tmp_path / "m")
    code, out, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data",
                         corpus, "--out", model, "--perplexity", "5", "--engine", "numpy")
    assert code == 0, err
    assert "layer 1 (tdnn1.relu): 48 units" in out and "layer 2 (tdnn2.sigmoid): 40 units" in out
    assert f"maps -> {model / 'lda'}" in out and "6 utterances" in out
    for k, units in ((1, 48), (2, 40)):
        d = model / "lda" / str(k)
        assert sorted(p.name for p in d.iterdir()) == ["indices", "summary.json", "vertices"]
        summary = json.loads((d / "summary.json").read_text())
        assert summary["units"] == units and summary["perplexity"] == 5
        assert 0 < summary["neighbour_keeping"] <= 1
    assert not list(model.glob(".lda.partial-*"))
    m = load_any_model(model)
    assert sorted(m.maps) == [1, 2] and m.maps[1].num_units == 48
    assert m.layer_title(1) == "tdnn1.relu \u00b7 48 relu"
    assert m.layer_marker(2) == "<Sigmoid>" and m.phones is None
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and "map 48 points" in out and "maps       lda/ for layers 1, 2" in out


def test_the_statistics_are_those_of_the_layers_over_the_corpus(corpus, tmp_path):
    """Pearson correlations from the merged jobs equal numpy's over every frame."""
    model = mappable_model_dir(tmp_path / "m")
    from deepbrain.maps.unlabelled import accumulate_time_courses
    from deepbrain.pipeline import read_wav_scp

    m = load_any_model(model)
    utts = read_wav_scp(corpus / "wav.scp")
    stats = accumulate_time_courses(utts, m, (1, 2), "numpy", nj=2)
    files = find_nnet3_model(model)
    net, opts = load_network(files), load_hires_mfcc_options(files.mfcc_conf)
    frames = {1: [], 2: []}
    for u in utts:
        feats = compute_mfcc_feats(read_wav(u.path), opts)
        layers = net.propagate_layers(feats, (1, 2))[0]
        for k, course in frames.items():
            course.append(layers[k])
    for k in (1, 2):
        x = np.concatenate(frames[k]).astype(np.float64)
        assert stats.frames == x.shape[0]
        r, dead = stats.correlation(k)
        live = ~dead
        want = np.corrcoef(x[:, live].T)
        np.testing.assert_allclose(r[np.ix_(live, live)], want, atol=1e-6)


def test_parallel_jobs_give_the_same_files(capsys, corpus, tmp_path):
    model = mappable_model_dir(tmp_path / "m")
    files = {}
    for nj in (1, 3):
        out = tmp_path / f"o{nj}"
        code, _, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data",
                           corpus, "--out", out, "--perplexity", "5", "--engine", "numpy",
                           "--nj", nj, "--layers", "2")
        assert code == 0, err
        files[nj] = (out / "lda" / "2" / "vertices").read_bytes()
        assert not (out / "lda" / "1").exists()
    assert files[1] == files[3]


def test_an_nnet1_model_too(capsys, corpus, tmp_path):
    model = write_tiny_model(tmp_path / "tiny")
    code, out, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data",
                         corpus, "--out", model, "--perplexity", "5", "--engine", "numpy")
    assert code == 0, err
    assert "layer 1: 32 units" in out and "layer 2: 24 units" in out
    assert sorted(load_any_model(model).maps) == [1, 2]
    assert not (model / "lda" / "1" / "units.csv").exists()


def test_too_little_speech_is_one_line(capsys, tmp_path):
    stats = TimeCourseStats({1: 4})
    stats.add({1: np.zeros((1, 4), np.float32)})
    with pytest.raises(Exception, match="too few to correlate"):
        stats.correlation(1)


def test_a_map_of_another_network_is_not_written_into_an_nnet3_dir(capsys, corpus, tmp_path):
    """--out an nnet3 model dir whose layers differ from the model's: refused, untouched."""
    model = write_tiny_model(tmp_path / "tiny")
    other = mappable_model_dir(tmp_path / "m")
    before = sorted(p.name for p in other.rglob("*"))
    code, out, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data",
                         corpus, "--out", other, "--perplexity", "5", "--engine", "numpy")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "is a model dir whose layer 1 has 48 units, but this map has 32" in err
    assert sorted(p.name for p in other.rglob("*")) == before
    assert MAPPABLE_LAYERS == load_network(find_nnet3_model(other)).layer_names


@pytest.mark.kaldi
def test_the_kaldi_engine_gives_the_same_correlations(capsys, corpus, tmp_path):
    """getact_nnet3.sh's layers (final.raw: nettools' transition model is not one Kaldi
    reads) give the numpy engine's correlations, and build-map --unlabelled runs on them."""
    from deepbrain.maps.unlabelled import accumulate_time_courses
    from deepbrain.pipeline import read_wav_scp

    model = mappable_model_dir(tmp_path / "raw", raw=True)
    m = load_any_model(model)
    utts = read_wav_scp(corpus / "wav.scp")
    kaldi = accumulate_time_courses(utts, m, (1, 2), "kaldi", nj=2)
    numpy = accumulate_time_courses(utts, m, (1, 2), "numpy", nj=1)
    assert kaldi.frames == numpy.frames
    for k in (1, 2):
        rk, dk = kaldi.correlation(k)
        rn, dn = numpy.correlation(k)
        assert (dk == dn).all()
        # measured: 1.0e-6 at most in layer 1 (ReLU); 2.1e-4 in layer 2, on a sigmoid unit
        # so nearly saturated (std 1.9e-6) that the engines' float32 differences show
        np.testing.assert_allclose(rk, rn, atol=5e-4)
    code, _, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data",
                       corpus, "--out", model, "--perplexity", "5", "--engine", "kaldi",
                       "--nj", "2")
    assert code == 0, err
    assert sorted(load_any_model(model).maps) == [1, 2]
