"""Hostile ``build-map`` input and interruptions (issue 9, items 8, 13 and the build-map part
of 3): one line and a documented code, never a traceback, never a hang, never a model
directory left broken or littered."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from deepbrain.cli import main
from deepbrain.options import MfccOptions
from support import speechlike, wav_bytes, write_tiny_model

APP = Path(__file__).resolve().parents[2] / "app"
PHONES = "sil 0\naa 1\niy 2\ns 3\nm 4\n"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """16 synthetic 2-second utterances with runs of phones 0..4 as labels, a tiny model."""
    d = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    (d / "data").mkdir()
    scp, labels = [], {}
    for i in range(16):
        x = speechlike(2.0, seed=i)
        wav = d / "data" / f"u{i}.wav"
        wav.write_bytes(wav_bytes(x))
        scp.append(f"u{i} {wav}\n")
        n = MfccOptions().num_frames(x.size)
        labels[f"u{i}"] = np.repeat(rng.integers(0, 5, n // 8 + 1), 8)[:n].astype(np.int32)
    (d / "data" / "wav.scp").write_text("".join(scp))
    kaldiio.save_ark(str(d / "labels.ark"), labels)
    (d / "phones.txt").write_text(PHONES)
    write_tiny_model(d / "model")
    return d


def corpus_args(corpus, out):
    return ["build-map", "--model", corpus / "model", "--data", corpus / "data", "--labels",
            corpus / "labels.ark", "--phones", corpus / "phones.txt", "--out", out,
            "--perplexity", "5", "--engine", "numpy"]


@pytest.fixture
def patterns(tmp_path):
    def write(units=40, phones=6, inf_at=None, name="patterns.txt"):
        m = np.random.default_rng(1).random((units, phones))
        if inf_at is not None:
            m[inf_at] = np.inf
        path = tmp_path / name
        np.savetxt(path, m)
        return path
    return write


# -- item 8: option values and patterns files ------------------------------------------------

@pytest.mark.parametrize("option,value,message", [
    ("--perplexity", "0", "--perplexity 0: expected a number above 0"),
    ("--perplexity", "-5", "--perplexity -5: expected a number above 0"),
    ("--perplexity", "nan", "--perplexity nan: expected a number above 0"),
    ("--perplexity", "inf", "--perplexity inf: expected a number above 0"),
    ("--seed", "-1", "--seed -1: expected a whole number 0..4294967295"),
    ("--seed", str(2 ** 32), f"--seed {2 ** 32}: expected a whole number 0..4294967295"),
    ("--alpha", "0", "--alpha 0: expected a test level between 0 and 1"),
    ("--tsne-iterations", "249", "--tsne-iterations 249: expected a whole number 250..100000"),
    ("--tsne-iterations", "-1", "--tsne-iterations -1: expected a whole number 250..100000"),
    ("--tsne-iterations", str(10 ** 9), f"--tsne-iterations {10 ** 9}: expected a whole number "
     f"250..100000"),
    ("--alpha", "nan", "--alpha nan: expected a test level between 0 and 1"),
    ("--layer", "0", "--layer 0: layers are numbered from 1"),
    ("--layer", "-3", "--layer -3: layers are numbered from 1"),
])
def test_option_values_out_of_range(patterns, tmp_path, capsys, option, value, message):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "build-map", "--patterns", patterns(), "--out", out,
                            option, value)
    assert code == 1 and stdout == ""
    assert err.startswith(f"deepbrain: error: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_options_are_checked_before_the_corpus_is_read(corpus, tmp_path, capsys):
    code, _, err = run(capsys, *corpus_args(corpus, tmp_path / "o"), "--perplexity", "nan",
                       "--labels", tmp_path / "missing.ark")
    assert code == 1 and "--perplexity nan" in err


def test_an_infinite_pattern_names_its_row_and_column(patterns, tmp_path, capsys):
    path = patterns(inf_at=(3, 2))
    code, _, err = run(capsys, "build-map", "--patterns", path, "--out", tmp_path / "o")
    assert code == 4
    assert err == (f"deepbrain: error: {path}: row 4, column 3 is inf; activity patterns are "
                   f"finite numbers (nan marks a phone with no frames)\n")


def test_the_perplexity_advised_is_one_that_works(patterns, tmp_path, capsys):
    for units in (4, 5, 7, 13, 40):
        path = patterns(units=units, name=f"p{units}.txt")
        out = tmp_path / f"o{units}"
        code, _, err = run(capsys, "build-map", "--patterns", path, "--out", out)
        assert code == 1, err
        advised = err.split("pass --perplexity ")[1].split()[0]
        code, _, err = run(capsys, "build-map", "--patterns", path, "--out", out,
                           "--perplexity", advised)
        assert code == 0, err
        assert (out / "lda" / "1" / "vertices").is_file()


def test_too_few_units_for_any_map(patterns, tmp_path, capsys):
    path = patterns(units=3)
    code, _, err = run(capsys, "build-map", "--patterns", path, "--out", tmp_path / "o",
                       "--perplexity", "0.5")
    assert code == 4
    assert "expected a units x phones text matrix of at least 4 units and 2 phones, got " \
           "shape (3, 6)" in err


@pytest.mark.parametrize("layer,units,message", [
    (3, 40, "is a model dir whose final.nnet has hidden layers 1..2; a map for layer 3 would "
            "make it invalid: choose a layer in 1..2 or another --out"),
    (1, 40, "is a model dir whose layer 1 has 32 units, but this map has 40; a map goes with "
            "its own network: choose another --out (or --layer)"),
])
def test_a_map_that_does_not_fit_a_model_dir_is_not_written_into_it(
        patterns, tmp_path, capsys, layer, units, message):
    model = write_tiny_model(tmp_path / "model")
    code, _, err = run(capsys, "build-map", "--patterns", patterns(units=units), "--out", model,
                       "--layer", layer, "--perplexity", "5")
    assert code == 1 and err == f"deepbrain: error: {model}: {message}\n"
    assert sorted(p.name for p in model.iterdir()) == ["ali_train_pdf.counts",
                                                       "final.feature_transform", "final.nnet"]
    assert run(capsys, "info", model)[0] == 0


def test_a_map_that_fits_goes_into_the_model_dir(patterns, tmp_path, capsys):
    model = write_tiny_model(tmp_path / "model")
    code, _, err = run(capsys, "build-map", "--patterns", patterns(units=24), "--out", model,
                       "--layer", "2", "--perplexity", "5")
    assert code == 0, err
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and "map 24 points" in out


# -- items 13 and 3: interruptions, in a real process, as a user sends them --------------------

def deepbrain(*args, **kwargs) -> subprocess.Popen:
    """``python -m deepbrain ARGS`` in its own process group (as a shell job is)."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "deepbrain", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(condition, proc, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"deepbrain ended (exit {proc.returncode}) before the moment to "
                        f"interrupt it: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the moment to interrupt never came")
        time.sleep(0.002)


def finish(proc, timeout=60) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"deepbrain hung for {timeout} s after the signal")
    return proc.returncode, err


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_during_parallel_jobs(corpus, tmp_path, attempt):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the two
    workers run: exit 130 with one line, no worker trace, no hang, no process left, nothing
    written."""
    out = tmp_path / "out"
    proc = deepbrain(*corpus_args(corpus, out), "--nj", "2")
    wait_for(lambda: len(children(proc.pid)) >= 2, proc)
    workers = children(proc.pid)
    time.sleep(random.Random(attempt).uniform(0.0, 0.5))
    os.killpg(proc.pid, signal.SIGINT)
    code, err = finish(proc)
    assert (code, err) == (130, "deepbrain: interrupted (SIGINT)\n")
    assert group_is_gone(proc.pid) and not any(Path(f"/proc/{w}").exists() for w in workers)
    assert not out.exists()


@needs_proc
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_maps_are_written_into_the_model_dir(corpus, tmp_path, sig):
    """The build-map part of item 3: ``.lda.partial-PID`` must not stay in the model dir."""
    model = write_tiny_model(tmp_path / "model")
    args = corpus_args(corpus, model)
    proc = deepbrain(*args, "--plot", "--nj", "2")
    wait_for(lambda: any(model.glob(".lda.partial-*")), proc)
    proc.send_signal(sig)
    code, err = finish(proc)
    assert (code, err) == (128 + sig, f"deepbrain: interrupted ({signal.Signals(sig).name})\n")
    assert sorted(p.name for p in model.iterdir()) == ["ali_train_pdf.counts",
                                                       "final.feature_transform", "final.nnet"]
    assert group_is_gone(proc.pid)


@needs_proc
@pytest.mark.slow
def test_a_worker_that_dies_is_one_line(corpus, tmp_path):
    out = tmp_path / "out"
    proc = deepbrain(*corpus_args(corpus, out), "--nj", "2")
    wait_for(lambda: len(children(proc.pid)) >= 2, proc)
    os.kill(children(proc.pid)[0], signal.SIGKILL)
    code, err = finish(proc)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("deepbrain: error: build-map job ") and \
        "was killed by SIGKILL before it finished (out of memory? try fewer --nj)" in err
    assert group_is_gone(proc.pid) and not out.exists()


def test_a_worker_error_is_the_error(corpus, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    scp = (corpus / "data" / "wav.scp").read_text().splitlines()
    bad = tmp_path / "u5.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    scp[5] = f"u5 {bad}"
    (data / "wav.scp").write_text("\n".join(scp) + "\n")
    args = corpus_args(corpus, tmp_path / "out")
    args[args.index(corpus / "data")] = data
    code, _, err = run(capsys, *args, "--nj", "2")
    assert code == 3 and err.count("\n") == 1
    assert err.startswith(f"deepbrain: error: {bad}: no fmt  chunk")
    assert not (tmp_path / "out").exists()


def test_parallel_jobs_report_progress(corpus, tmp_path):
    from deepbrain.maps.build import MapOptions, accumulate
    from deepbrain.maps.labels import read_labels, read_phone_set
    from deepbrain.model import load_model
    from deepbrain.pipeline import read_wav_scp

    seen = []
    stats = accumulate(read_wav_scp(corpus / "data" / "wav.scp"),
                       load_model(corpus / "model"), (1, 2),
                       read_labels(corpus / "labels.ark"), read_phone_set(corpus / "phones.txt"),
                       "labels.ark", MapOptions(), "numpy", 2, progress=seen.append)
    assert stats.counts.sum() > 0
    forward = [p.done for p in seen if p.stage == "forward"]
    assert forward == sorted(forward) and forward[-1] == 16 and seen[-1].total == 16


@pytest.mark.parametrize("line", ["aa 99999999999999", "aa 100001", "aa -1", "aa 1 2"])
def test_a_phone_table_id_that_would_size_an_array_is_refused(corpus, tmp_path, capsys, line):
    """phones.txt ids index arrays as large as the largest id: a huge one is one line, not
    a MemoryError (the same reader serves build-map, evaluate and the phone lanes)."""
    phones = tmp_path / "phones.txt"
    phones.write_text(PHONES + line + "\n")
    argv = corpus_args(corpus, tmp_path / "out")
    argv[argv.index(corpus / "phones.txt")] = phones
    code, _, err = run(capsys, *argv)
    assert code != 0 and err.count("\n") == 1 and "is not 'symbol id'" in err, err
    assert not (tmp_path / "out").exists()
