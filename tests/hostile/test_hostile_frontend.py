"""Hostile front-end option files (issue 13): conf/fbank.conf, conf/pitch.conf,
conf/pitch_process.conf, delta_opts, online_cmvn_opts and global_cmvn_stats.mat. Each is data:
``deepbrain info`` refuses unknown options, shell, NaN, negative and huge values, and FIFOs
with one line naming the file (exit 4); getact.sh refuses every word that is not a known
option with a plain value of its type, and FIFOs, before any Kaldi runs. No payload ever
runs."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from support import ROOT, write_frontend_model
from deepbrain.cli import main

GETACT = ROOT / "kaldi_recipes" / "getact.sh"
MARK = f".deepbrain-pwned-{uuid.uuid4().hex}"
PAYLOAD = f"$(cd;touch${{IFS}}{MARK})"

# file -> (the other files of a model that reads it, a known real option, a known int option)
FILES = {
    "conf/fbank.conf": ({}, "low-freq", "num-mel-bins"),
    "conf/pitch.conf": ({"conf/mfcc.conf": "--num-ceps=13\n"}, "min-f0", "lowpass-filter-width"),
    "conf/pitch_process.conf": ({"conf/mfcc.conf": "--num-ceps=13\n", "conf/pitch.conf": ""},
                                "pitch-scale", "delta-window"),
    "delta_opts": ({"conf/mfcc.conf": "--num-ceps=13\n"}, None, "delta-order"),
    "online_cmvn_opts": ({"conf/mfcc.conf": "--num-ceps=13\n"}, None, "cmn-window"),
}


def model_with(tmp_path: Path, name: str, text: str | None) -> Path:
    """A steps dir whose ``name`` holds ``text`` (None: a FIFO)."""
    others, _, _ = FILES[name]
    files = dict(others)
    if name != "conf/fbank.conf":
        files.setdefault("conf/mfcc.conf", "--num-ceps=13\n")
    if text is not None:
        files[name] = text
    model = write_frontend_model(tmp_path / "m", files, 13,
                                 global_stats_dim=13 if name == "online_cmvn_opts" else None)
    if text is None:
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(model / name)
    return model


def attacks(name: str) -> list[tuple[str, str | None, str, bool]]:
    """(case, file text or None for a FIFO, what deepbrain's message says, whether getact.sh
    refuses it too: it checks names, plain values and types, and leaves ranges to Kaldi)."""
    _, real, integer = FILES[name]
    sep = "\n" if name.startswith("conf/") else " "
    out = [
        ("unknown", f"--no-such-option=1{sep}", "unknown or unsupported option --no-such-option",
         True),
        ("shell", f"--{integer}=1{PAYLOAD}{sep}", "not a plain --name=value option", True),
        ("backticks", f"--{integer}=`touch {MARK}`{sep}", "not a plain --name=value option",
         True),
        ("int-nan", f"--{integer}=nan{sep}", f"--{integer}=nan", True),
        ("negative", f"--{integer}=-5{sep}", "", False),
        ("huge", f"--{integer}=99999999999999999999{sep}", "", False),
        ("fifo", None, "is a FIFO (named pipe)", True),
        ("garbage", f"{integer}=2{sep}", "expected --name=value options", True),
    ]
    if real:
        out += [("real-nan", f"--{real}=nan{sep}", f"--{real}", True),
                ("real-inf", f"--{real}=-inf{sep}", f"--{real}", True),
                ("real-huge", f"--{real}=1e39{sep}", f"--{real}", False)]
    return out


CASES = [(name, *case) for name in FILES for case in attacks(name)]


def pwned() -> list[Path]:
    return [p for p in (Path.home() / MARK, Path.cwd() / MARK) if p.exists()]


@pytest.mark.parametrize("name, case, text, message, recipe_too", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_info_refuses_it_naming_the_file(tmp_path, capsys, name, case, text, message,
                                         recipe_too):
    model = model_with(tmp_path, name, text)
    code = main(["info", str(model)])
    err = capsys.readouterr().err
    assert code == 4, err
    assert err.count("\n") == 1 and f"{model / name}: " in err and message in err, err
    assert not pwned()


@pytest.mark.parametrize("name, case, text, message, recipe_too",
                         [c for c in CASES if c[4]], ids=[f"{c[0]}-{c[1]}" for c in CASES
                                                         if c[4]])
def test_getact_refuses_it_before_kaldi(tmp_path, name, case, text, message, recipe_too):
    model = model_with(tmp_path, name, text)
    env = {k: v for k, v in os.environ.items() if k != "KALDI_ROOT"}
    for args in (["--print-frontend", "true", model], ["d", model, "e"]):
        if args[0] == "d":
            data = tmp_path / "d"
            data.mkdir(exist_ok=True)
            for f in ("wav.scp", "utt2spk", "spk2utt"):
                (data / f).write_text("a a\n")
            args = [data, model, tmp_path / "e"]
        r = subprocess.run(["bash", str(GETACT), *map(str, args)], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{model / name}: " in r.stderr and "KALDI_ROOT" not in r.stderr, r.stderr
    assert not pwned() and not list(tmp_path.rglob(MARK))


def test_getact_leaves_ranges_to_kaldi_but_deepbrain_does_not(tmp_path):
    """A negative window is a plain int to the recipe (Kaldi's own check refuses it when the
    recipe runs alone); the Kaldi engine never gets there: the model is loaded first."""
    model = model_with(tmp_path, "delta_opts", "--delta-window=-5\n")
    r = subprocess.run(["bash", str(GETACT), "--print-frontend", "true", str(model)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "add-deltas --delta-window=-5" in r.stdout
    assert main(["activations", str(tmp_path / "x.wav"), "--model", str(model), "--out",
                 str(tmp_path / "o"), "--engine", "kaldi"]) == 4


@pytest.mark.parametrize("text, message", [
    ("[ 1 2 3 ]", "expected a non-empty Kaldi matrix for global CMVN statistics"),
    ("[ 1 2\n 3 4 ]", "expected CMVN statistics of 13-dim features"),
    ("not a matrix", "not a readable Kaldi matrix"),
    (None, "is a FIFO (named pipe)"),
])
def test_bad_global_cmvn_stats_are_refused(tmp_path, capsys, text, message):
    model = model_with(tmp_path, "online_cmvn_opts", "--cmn-window=600\n")
    stats = model / "global_cmvn_stats.mat"
    stats.unlink()
    if text is None:
        os.mkfifo(stats)
    else:
        stats.write_text(text)
    assert main(["info", str(model)]) == 4
    err = capsys.readouterr().err
    assert f"{stats}: " in err and message in err, err
