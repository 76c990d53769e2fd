"""Hostile command lines: ``--layers`` (issue 9, item 9) and the rest of the CLI's edges."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from deepbrain.cli import main

APP = Path(__file__).resolve().parents[2] / "app"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_usage(capsys, *argv):
    """argparse's own errors: exit 2, the usage line, then one error line."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return e.value.code, out, err


def deepbrain(*args, memory_limit: int | None = None, timeout=120, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))

    def limit():
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "deepbrain", *map(str, args)], env=env,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, preexec_fn=limit,
                          **kwargs)


# -- item 9: --layers ------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["activations", "build-map", "gui"])
def test_a_huge_layer_range_is_refused_at_once_in_little_memory(command, tiny_model, tmp_path):
    """1-999999999 used to build the whole list (23 GB); now it is refused while parsing,
    here under a 1.5 GB address-space limit that a list of that size would break."""
    args = {"activations": ["activations", "x.wav", "--model", tiny_model, "--out", tmp_path],
            "build-map": ["build-map", "--model", tiny_model, "--out", tmp_path],
            "gui": ["gui", "--model", tiny_model]}[command]
    r = deepbrain(*args, "--layers", "1-999999999", memory_limit=1536 * 2 ** 20, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (
        f"deepbrain {command}: error: argument --layers: '1-999999999' lists more than 10000 "
        f"layers, more than any network has; 'deepbrain info MODEL' shows its layers")


EXPECTED_LAYERS = ("expected layer numbers like 1,3 or 2-5 (or an nnet3 model's node names, as "
                   "'deepbrain info MODEL' lists them)")


@pytest.mark.parametrize("layers,message", [
    ("5-2", "the range 5-2 in '5-2' runs backwards; write 2-5"),
    ("0", "layer numbers start at 1, got '0'"),
    ("1,0-3", "layer numbers start at 1, got '1,0-3'"),
    ("1-x", f"{EXPECTED_LAYERS}, got '1-x'"),
    ("", f"{EXPECTED_LAYERS}, got ''"),
    ("1-5000,6000-12000", "'1-5000,6000-12000' lists more than 10000 layers, more than any "
                          "network has; 'deepbrain info MODEL' shows its layers"),
])
def test_bad_layer_lists_are_usage_errors(tiny_model, tmp_path, capsys, layers, message):
    code, _, err = run_usage(capsys, "activations", "x.wav", "--model", tiny_model, "--out",
                             tmp_path / "o", "--layers", layers)
    assert code == 2 and err.splitlines()[-1].endswith(f"argument --layers: {message}")


@pytest.mark.parametrize("layers,first", [("3", 3), ("1,999999999", 999999999), ("2-4", 3)])
def test_layers_beyond_the_model_are_refused_before_any_work(tiny_model, speech_wav, tmp_path,
                                                             capsys, layers, first):
    out = tmp_path / "o"
    code, _, err = run(capsys, "activations", speech_wav, "--model", tiny_model, "--out", out,
                       "--layers", layers, "--engine", "numpy")
    assert code == 1 and not out.exists()
    assert err == (f"deepbrain: error: layer {first} asked for, but "
                   f"{tiny_model / 'final.nnet'} has hidden layers 1..2; choose --layers in "
                   f"that range\n")


def test_build_map_checks_layers_against_the_model_before_reading_the_corpus(tiny_model,
                                                                              tmp_path, capsys):
    code, _, err = run(capsys, "build-map", "--model", tiny_model, "--data", tmp_path / "none",
                       "--labels", tmp_path / "none.ark", "--out", tmp_path / "o", "--layers",
                       "7")
    assert code == 1 and "layer 7 asked for" in err and "hidden layers 1..2" in err


def test_a_valid_layer_list_still_works(tiny_model, speech_wav, tmp_path, capsys):
    out = tmp_path / "o"
    code, stdout, err = run(capsys, "activations", speech_wav, "--model", tiny_model, "--out",
                            out, "--layers", "2,1-1", "--engine", "numpy", "-q")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.ark")) == ["layer1.ark", "layer2.ark"]


# -- item 17: a network without hidden layers; stdout closed by its reader -------------------

def test_a_network_without_hidden_layers_is_refused_not_a_success_with_none(tmp_path, capsys,
                                                                             speech_wav):
    import numpy as np

    from deepbrain.nnet1 import Nnet, Softmax, write_nnet
    from support import random_affine, write_tiny_model

    model = write_tiny_model(tmp_path / "model")
    write_nnet(Nnet((random_affine(np.random.default_rng(0), 65, 10), Softmax(10, 10))),
               model / "final.nnet")
    message = (f"deepbrain: error: {model}: 1 problem(s): {model / 'final.nnet'}: has no hidden "
               f"layer (its components: <AffineTransform> <Softmax>); deepbrain shows what "
               f"hidden layers do, so the network needs a <Sigmoid>, <Tanh> or <ParametricRelu> "
               f"layer before its output\n")
    assert run(capsys, "info", model) == (4, "", message)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "activations", speech_wav, "--model", model, "--out", out,
                            "--engine", "numpy", "--output", "-q")
    assert (code, stdout, err) == (4, "", message) and not out.exists()


@pytest.mark.parametrize("command", [["doctor"], ["info", "MODEL"]])
def test_stdout_closed_by_its_reader_is_no_traceback(command, tiny_model):
    """``deepbrain doctor | head -1``: quiet, exit 141 as for a command killed by SIGPIPE.
    The pipe is closed before deepbrain writes, so the outcome does not depend on timing."""
    args = [str(tiny_model) if a == "MODEL" else a for a in command]
    read, write = os.pipe()
    os.close(read)
    try:
        r = deepbrain(*args, stdout=write)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (141, "")


@pytest.mark.parametrize("command", [["doctor"], ["models"], ["info", "MODEL"]])
def test_stdout_on_a_full_disk_is_one_line(command, tiny_model):
    """``deepbrain doctor > /dev/full``: the output's exit code (5) and one line, no
    traceback, and no second complaint from the flush at exit."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    args = [str(tiny_model) if a == "MODEL" else a for a in command]
    with open("/dev/full", "w") as full:
        r = deepbrain(*args, stdout=full)
    assert r.returncode == 5
    assert r.stderr == ("deepbrain: error: cannot write to standard output: No space left on "
                        "device; free some space or send the output elsewhere\n")


def test_stderr_closed_keeps_the_errors_code(tmp_path):
    read, write = os.pipe()
    os.close(read)
    try:
        env = dict(os.environ, PYTHONPATH=str(APP))
        r = subprocess.run([sys.executable, "-m", "deepbrain", "info", str(tmp_path / "none")],
                           stdout=subprocess.PIPE, stderr=write, env=env, timeout=120)
    finally:
        os.close(write)
    assert r.returncode == 4 and r.stdout == b""
