"""NaN and infinity are named at the stage that made them and never written; SIGTERM and
SIGHUP are handled like Ctrl-C: the child processes stop, nothing is left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from support import speechlike, wav_bytes, write_tiny_model
from deepbrain.cli import main
from deepbrain.nnet1 import AddShift, Nnet, Rescale, read_nnet, write_nnet


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "a.wav"
    p.write_bytes(wav_bytes(speechlike(0.5)))
    return p


def huge_weights(model: Path) -> None:
    """A network whose first layer is NaN from finite inputs with any BLAS kernel: a
    <Rescale> by 3e38 and -3e38 turns two inputs above 1000 into +inf and -inf (scales
    that cancel: Kaldi refuses a network whose parameters sum to inf), and the first affine
    adds them, so its sums meet inf - inf. (Finite weights whose products overflow
    do not do: with fused multiply-adds an overflowing product of finite numbers added to
    +inf stays +inf, and the sigmoid makes that finite.)"""
    ft = read_nnet(model / "final.feature_transform")
    dim = ft.output_dim
    shift = np.zeros(dim, np.float32)
    shift[:2] = 1000.0
    write_nnet(Nnet(ft.components + (AddShift(dim, dim, shift=shift),)),
               model / "final.feature_transform")
    net = read_nnet(model / "final.nnet")
    scale = np.ones(dim, np.float32)
    scale[:2] = 3e38, -3e38
    first = net.components[0]
    first.linearity[:, :2] = 1.0
    write_nnet(Nnet((Rescale(dim, dim, scale=scale),) + net.components), model / "final.nnet")


@pytest.mark.parametrize("engine", ["numpy", pytest.param("kaldi", marks=pytest.mark.kaldi)])
@pytest.mark.parametrize("case,stage,source", [
    ("dither", "feats", "conf/mfcc.conf"),
    ("weights", "layer1", "final.nnet"),
])
def test_non_finite_values_name_their_stage_and_nothing_is_written(tmp_path, capsys, wav,
                                                                   engine, case, stage,
                                                                   source):
    model = write_tiny_model(tmp_path / "m")
    if case == "dither":
        (model / "conf").mkdir()
        (model / "conf" / "mfcc.conf").write_text("--dither=1e30\n--use-energy=false\n")
    else:
        huge_weights(model)
    out = tmp_path / "out"
    code = main(["activations", str(wav), "--model", str(model), "--out", str(out),
                 "--engine", engine, "-q"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert f"stage {stage} gave NaN or infinite values" in err and source in err
    assert err.count("\n") == 1
    assert not out.exists()


def start(argv, **kw):
    return subprocess.Popen([sys.executable, "-m", "deepbrain", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def long_wavs(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"long{i}.wav"
        p.write_bytes(wav_bytes(speechlike(60.0, seed=i)))
        paths.append(p)
    return paths


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_run_leaves_nothing(tmp_path, long_wavs, sig):
    model = write_tiny_model(tmp_path / "m")
    out = tmp_path / "out"
    proc = start(["activations", *map(str, long_wavs), "--model", str(model), "--out",
                  str(out), "--engine", "numpy", "-q"])
    assert wait_for(lambda: list(out.glob(".deepbrain-new-*")) or proc.poll() is not None)
    assert proc.poll() is None, "finished before the signal could be sent; make the input longer"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.strip() == f"deepbrain: interrupted ({signal.Signals(sig).name})"
    assert not out.exists()


def test_earlier_results_survive_a_signal_during_force(tmp_path, long_wavs, wav):
    model = write_tiny_model(tmp_path / "m")
    out = tmp_path / "out"
    assert main(["activations", str(wav), "--model", str(model), "--out", str(out),
                 "--engine", "numpy", "-q"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = start(["activations", *map(str, long_wavs), "--model", str(model), "--out",
                  str(out), "--engine", "numpy", "-q", "--force"])
    assert wait_for(lambda: list(out.glob(".deepbrain-new-*")) or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_sigkill_leftovers_are_cleaned_by_the_next_run(tmp_path, long_wavs, wav):
    model = write_tiny_model(tmp_path / "m")
    out = tmp_path / "out"
    proc = start(["activations", *map(str, long_wavs), "--model", str(model), "--out",
                  str(out), "--engine", "numpy", "-q"])
    assert wait_for(lambda: list(out.glob(".deepbrain-new-*")) or proc.poll() is not None)
    proc.kill()
    proc.communicate(timeout=60)
    assert list(out.glob(".deepbrain-new-*"))  # SIGKILL cannot be handled
    r = subprocess.run([sys.executable, "-m", "deepbrain", "activations", str(wav), "--model",
                        str(model), "--out", str(out), "--engine", "numpy", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "removed a killed run's unfinished results" in r.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def descendants(pid: int) -> list[int]:
    r = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True)
    return [int(p) for p, s in (line.split() for line in r.stdout.splitlines())
            if int(s) == pid and int(p) != pid]


@pytest.mark.kaldi
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_kaldi_engine_stops_its_process_group_and_removes_its_work_dir(tmp_path, long_wavs,
                                                                      golden, sig):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    proc = start(["activations", *map(str, long_wavs), "--model", str(golden / "model"),
                  "--out", str(out), "--engine", "kaldi", "-q"],
                 env=dict(os.environ, TMPDIR=str(tmp)))
    assert wait_for(lambda: list(tmp.glob("deepbrain-kaldi-*/exp/log/*.log")))
    kids = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,sid=,args="], capture_output=True,
                          text=True).stdout
    group = [line for line in kids.splitlines() if "getact.sh" in line]
    assert group, "getact.sh is not running"
    sid = int(group[0].split()[2])
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    assert wait_for(lambda: not descendants(sid), 10), descendants(sid)
    assert list(tmp.iterdir()) == [] and not out.exists()
