"""Hostile ``build-map --unlabelled``: empty data, NaN activations, odd names, options that
do not go with it, signals. One line and a documented code, never a traceback, never a map
folder left half written."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from deepbrain.cli import main
from support import speechlike, wav_bytes
from test_hostile_build_map import children, deepbrain, finish, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nnet3"))
from cli_models import mappable_model_dir


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def data_dir(d: Path, n: int = 4, seconds: float = 1.0, names=None) -> Path:
    d.mkdir(parents=True)
    names = names or [f"u{i}" for i in range(n)]
    lines = []
    for i, name in enumerate(names):
        wav = d / f"{name}.wav"
        wav.write_bytes(wav_bytes(speechlike(seconds, seed=i)))
        lines.append(f"{name} {wav}\n")
    (d / "wav.scp").write_text("".join(lines))
    return d


@pytest.fixture
def model(tmp_path):
    return mappable_model_dir(tmp_path / "m")


def args(model, data, out, *more):
    return ["build-map", "--unlabelled", "--model", model, "--data", data, "--out", out,
            "--perplexity", "5", "--engine", "numpy", *more]


def untouched(model: Path) -> bool:
    return sorted(p.name for p in model.iterdir()) == ["conf", "final.mdl"]


def test_an_empty_data_dir(capsys, model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, *args(model, empty, model))
    assert code == 3 and out == "" and len(err.splitlines()) == 1
    assert f"{empty / 'wav.scp'}" in err and untouched(model)
    (empty / "wav.scp").write_text("\n\n")
    code, _, err = run(capsys, *args(model, empty, model))
    assert code == 3 and err == f"deepbrain: error: {empty / 'wav.scp'}: no utterances\n"
    assert untouched(model)


def test_nan_activations_are_refused_and_nothing_is_written(capsys, tmp_path):
    """A network whose first layer overflows to +-inf (half its units weigh the features
    by +3e38, half by -3e38) and whose second layer then multiplies inf by 0 and adds
    inf to -inf: NaN at every frame with any BLAS kernel (with fused multiply-adds, an
    overflowing *product* of finite numbers is no inf, so finite inputs would not do)."""
    from cli_models import MAPPABLE_CONFIG, MFCC_CONF
    from deepbrain.nnet3 import build_nnet3
    from deepbrain.nnet3 import components as C
    from nettools import mdl_bytes, nonlinear

    rng = np.random.default_rng(0)
    big = np.zeros((40, 96), np.float32)
    big[:, 0], big[:, 1] = 3e38, -3e38
    first = np.full((48, 18), 3e38, np.float32)
    first[24:] = -3e38
    comps = {"tdnn1.affine": C.AffineComponent(linear=first,
                                               bias=np.zeros(48, np.float32)),
             "tdnn1.relu": nonlinear(C.RectifiedLinearComponent, 48),
             "tdnn2.affine": C.AffineComponent(linear=big, bias=np.zeros(40, np.float32)),
             "tdnn2.sigmoid": nonlinear(C.SigmoidComponent, 40),
             "output.affine": C.AffineComponent(
                 linear=rng.standard_normal((7, 40)).astype(np.float32),
                 bias=np.zeros(7, np.float32)),
             "output.log-softmax": nonlinear(C.LogSoftmaxComponent, 7)}
    model = tmp_path / "nan"
    (model / "conf").mkdir(parents=True)
    (model / "final.mdl").write_bytes(mdl_bytes(build_nnet3(MAPPABLE_CONFIG, comps, "nan")))
    (model / "conf" / "mfcc.conf").write_text(MFCC_CONF)
    data = data_dir(tmp_path / "data", 2)
    code, out, err = run(capsys, *args(model, data, model, "--nj", "2"))
    assert code == 4 and out == "" and len(err.splitlines()) == 1, err
    assert "NaN or inf" in err
    assert untouched(model)


def test_odd_names(capsys, model, tmp_path):
    """Utterance ids and paths with spaces, non-ASCII letters, quotes and a leading dash."""
    data = data_dir(tmp_path / "da ta \u00fc", names=["-u\u00e9", "u'1", "u\"2", "\u4e2d"])
    out = tmp_path / "o u t \u00e9 'x'" / "-maps"
    code, stdout, err = run(capsys, *args(model, data, out))
    assert code == 0, err
    assert sorted(p.name for p in (out / "lda").iterdir()) == ["1", "2"]
    assert "4 utterances" in stdout and not list(out.glob(".lda.partial-*"))


@pytest.mark.parametrize("extra,message", [
    (["--labels", "x.ark"], "--unlabelled maps units without phones: drop --labels"),
    (["--plot", "--keep-silence"],
     "--unlabelled maps units without phones: drop --keep-silence, --plot"),
    (["--layers", "3"], ("layer 3 asked for, but {model}/final.mdl has hidden layers 1..2; "
                         "choose --layers in that range")),
    (["--nj", "0"], "--nj must be at least 1, got 0"),
    (["--cmd", "run.pl"], ("--cmd runs the Kaldi engine's jobs, but the engine is numpy; "
                           "add --engine kaldi (with KALDI_ROOT set) or drop --cmd")),
])
def test_options_that_do_not_go_with_it(capsys, model, tmp_path, extra, message):
    data = data_dir(tmp_path / "data", 1)
    code, out, err = run(capsys, *args(model, data, tmp_path / "o", *extra))
    assert code == 1 and out == ""
    assert err == f"deepbrain: error: {message.format(model=model)}\n"
    assert not (tmp_path / "o").exists()


def test_too_many_neighbours_for_the_units_leaves_nothing(capsys, model, tmp_path):
    data = data_dir(tmp_path / "data", 2)
    out = tmp_path / "new" / "maps"
    code, _, err = run(capsys, "build-map", "--unlabelled", "--model", model, "--data", data,
                       "--out", out, "--engine", "numpy")     # perplexity 30: needs > 90 units
    assert code == 1 and "48 units are too few for t-SNE with perplexity 30" in err
    assert "pass --perplexity 15 or less" in err
    assert not (tmp_path / "new").exists()


def test_model_dir_maps_are_replaced_only_with_force(capsys, model, tmp_path):
    data = data_dir(tmp_path / "data", 2)
    assert run(capsys, *args(model, data, model))[0] == 0
    before = (model / "lda" / "1" / "vertices").read_bytes()
    code, _, err = run(capsys, *args(model, data, model, "--seed", "1"))
    assert code == 5 and "already holds maps for layer(s) 1, 2; pass --force" in err
    assert (model / "lda" / "1" / "vertices").read_bytes() == before
    assert run(capsys, *args(model, data, model, "--seed", "1", "--force"))[0] == 0
    assert (model / "lda" / "1" / "vertices").read_bytes() != before


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_the_jobs_leaves_nothing(model, tmp_path, sig, code):
    data = data_dir(tmp_path / "data", 8, seconds=3.0)
    proc = deepbrain(*args(model, data, model, "--nj", "2"))
    wait_for(lambda: len(children(proc.pid)) >= 2, proc)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)   # Ctrl-C reaches the whole group
    else:
        proc.send_signal(sig)
    got, err = finish(proc)
    assert got == code, err
    assert err.strip().splitlines()[-1].startswith("deepbrain: interrupted")
    assert untouched(model) and children(proc.pid) == []
