"""Nothing from a model folder, a path or an option reaches a shell as code: the Kaldi recipes
(run alone or through the Kaldi engine) and the option files deepbrain reads.

Kaldi's run.pl joins its arguments unquoted into a bash command line, and Kaldi's
parse_options.sh evals option values; every case here once ran its command. Each payload
leaves a mark file (in $HOME, the cwd or the test folder); none may ever appear.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from support import ROOT, UTTS, speechlike, wav_bytes, write_tiny_model
from deepbrain.cli import main

RECIPES = ROOT / "kaldi_recipes"


MARK = f".deepbrain-pwned-{uuid.uuid4().hex}"


def payload(tmp_path: Path) -> str:
    """A command that leaves a mark in $HOME, written without a slash so that it also fits
    in a single file name."""
    return f"$(cd;touch${{IFS}}{MARK})"


def pwned(tmp_path: Path) -> list[Path]:
    return [p for p in (Path.home() / MARK, Path.cwd() / MARK) if p.exists()] + \
        list(tmp_path.rglob(MARK))


def fake_kaldi(tmp_path: Path) -> Path:
    """A Kaldi tree with the dirs path.sh checks and no binaries: the recipes get as far
    as their own checks."""
    root = tmp_path / "fake-kaldi"
    for d in ("src/featbin", "src/nnetbin", "src/bin", "egs/wsj/s5/utils"):
        (root / d).mkdir(parents=True)
    return root


def recipe(script, *args, env=None, cwd=None):
    return subprocess.run(["bash", str(RECIPES / script), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd)


def data_dir(tmp_path: Path, name="data", wav_line=None) -> Path:
    d = tmp_path / name
    d.mkdir()
    w = tmp_path / "a.wav"
    w.write_bytes(wav_bytes(speechlike(0.5)))
    (d / "wav.scp").write_text(wav_line or f"a {w}\n")
    (d / "utt2spk").write_text("a a\n")
    (d / "spk2utt").write_text("a a\n")
    return d


# -- option files are data -------------------------------------------------------------------

HOSTILE_OPTS = [f"--norm-means=true#$(cd;touch${{IFS}}{MARK})",
                f"--norm-means=true;touch {MARK}", f"--norm-means=`touch {MARK}`",
                "--norm-means='true'", "--norm-means=$HOME",
                f"--norm-means=true\n--norm-vars=$(touch {MARK})", "true", "--norm-means=a|b"]


@pytest.mark.parametrize("text", HOSTILE_OPTS)
def test_info_refuses_cmvn_opts_that_are_not_plain_options(tmp_path, capsys, text):
    model = write_tiny_model(tmp_path / "m")
    (model / "cmvn_opts").write_text(text + "\n")
    code = main(["info", str(model)])
    err = capsys.readouterr().err
    assert code == 4 and "cmvn_opts" in err and err.count("\n") == 1, err
    assert not pwned(tmp_path)


@pytest.mark.parametrize("name", ["splice_opts", "cmvn_opts"])
def test_the_recipe_refuses_them_by_name_too(tmp_path, name):
    root = fake_kaldi(tmp_path)
    model = write_tiny_model(tmp_path / "m")
    (model / "final.mat").write_text("[ 1 ]\n")
    (model / name).write_text(f"--left-context=3#{payload(tmp_path)}\n")
    r = recipe("getact.sh", data_dir(tmp_path), model, tmp_path / "exp",
               env=dict(os.environ, KALDI_ROOT=str(root)), cwd=tmp_path)
    assert r.returncode == 1
    assert f"{model}/{name}: " in r.stderr and "not a plain --name=value option" in r.stderr
    assert not pwned(tmp_path)


def test_the_recipe_refuses_unknown_options(tmp_path):
    root = fake_kaldi(tmp_path)
    model = write_tiny_model(tmp_path / "m")
    (model / "cmvn_opts").write_text("--norm-means=true --reverse=true\n")
    r = recipe("getact.sh", data_dir(tmp_path), model, tmp_path / "exp",
               env=dict(os.environ, KALDI_ROOT=str(root)))
    assert r.returncode == 1 and "unknown or unsupported option --reverse" in r.stderr


# -- the recipe's own command line -----------------------------------------------------------

def test_option_values_are_never_evaluated(tmp_path):
    """Kaldi's parse_options.sh runs `eval $name=\"$2\"`: a $(...) in a value ran."""
    r = recipe("getact.sh", "--mfcc-config", f"conf{payload(tmp_path)}.conf", "d", "m", "e",
               env={k: v for k, v in os.environ.items() if k != "KALDI_ROOT"}, cwd=tmp_path)
    assert r.returncode == 1 and "--mfcc-config" in r.stderr and "no such file" in r.stderr
    assert not pwned(tmp_path)


@pytest.mark.parametrize("args,message", [
    (["--stage", "abc"], "--stage must be 0..5"),
    (["--layers", "5-2"], "'5-2' is an empty range"),
    (["--layers", "1,x"], "--layers expects all, or e.g. 1,3 or 2-5"),
    (["--layers", "0"], "layers are numbered from 1"),
    (["--layers", "1-999999999"], "beyond any network"),
    (["--nj", "0"], "--nj must be a whole number"),
    (["--mfcc-config", "nope.conf"], "--mfcc-config nope.conf: no such file"),
    (["--config", "x"], "--config is not supported"),
    (["--write-output", "maybe"], 'expected "true" or "false"'),
    (["--no-such-option", "1"], "invalid option --no-such-option"),
])
def test_bad_options_are_found_before_any_work_and_without_kaldi(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if k != "KALDI_ROOT"}
    r = recipe("getact.sh", *args, "d", "m", "e", env=env, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert "KALDI_ROOT" not in r.stderr  # found before Kaldi is even looked for


def test_help_works_without_kaldi(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KALDI_ROOT"}
    for script in ("getact.sh", "local/make_data.sh", "local/ali_to_phones.sh"):
        r = recipe(script, "--help", env=env)
        assert r.returncode == 0 and "Usage:" in r.stderr, (script, r.stderr)


def test_wav_scp_commands_are_refused_unless_allowed(tmp_path):
    root = fake_kaldi(tmp_path)
    model = write_tiny_model(tmp_path / "m")
    data = data_dir(tmp_path, wav_line=f"a touch {tmp_path}/{MARK} |\n")
    r = recipe("getact.sh", data, model, tmp_path / "exp",
               env=dict(os.environ, KALDI_ROOT=str(root)))
    assert r.returncode == 1 and "entry a is a command or stdin" in r.stderr
    assert "--allow-pipes true" in r.stderr
    assert not pwned(tmp_path)


def test_cluster_commands_refuse_an_out_dir_a_shell_would_read(tmp_path):
    root = fake_kaldi(tmp_path)
    model = write_tiny_model(tmp_path / "m")
    r = recipe("getact.sh", "--cmd", "slurm.pl", data_dir(tmp_path), model,
               tmp_path / f"exp{payload(tmp_path)}", env=dict(os.environ, KALDI_ROOT=str(root)))
    assert r.returncode == 1 and "writes this path into its job scripts" in r.stderr
    assert not pwned(tmp_path)


# -- with real Kaldi: every route runs, and nothing is ever executed ----------------------------

@pytest.fixture
def golden_model(golden, tmp_path):
    def copy(name: str) -> Path:
        d = tmp_path / name
        shutil.copytree(golden / "model", d)
        (d / "conf").mkdir()
        shutil.copy(golden / "mfcc.conf", d / "conf" / "mfcc.conf")
        return d
    return copy


@pytest.mark.kaldi
def test_kaldi_engine_with_hostile_model_dir_workdir_and_tmpdir(golden, golden_model,
                                                                 tmp_path, capsys,
                                                                 monkeypatch):
    model = golden_model(f"m{payload(tmp_path)}")
    tmp = tmp_path / f"tmp{payload(tmp_path)} x"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    wav = golden / "wav" / "utt1.wav"
    for extra in ([], ["--keep-workdir", str(tmp_path / "kw" / f"w{payload(tmp_path)}")]):
        out = tmp_path / f"out{len(extra)}{payload(tmp_path)}"
        code = main(["activations", str(wav), "--model", str(model), "--out", str(out),
                     "--engine", "kaldi", "-q", *extra])
        err = capsys.readouterr().err
        assert code == 0, err
        assert (out / "layer3.scp").is_file()
    assert not pwned(tmp_path)


@pytest.mark.kaldi
def test_kaldi_engine_refuses_a_hostile_cmvn_opts_before_running(golden_model, golden,
                                                                 tmp_path, capsys):
    model = golden_model("m")
    (model / "cmvn_opts").write_text(f"--norm-means=true#{payload(tmp_path)}\n")
    code = main(["activations", str(golden / "wav" / "utt1.wav"), "--model", str(model),
                 "--out", str(tmp_path / "o"), "-q"])
    assert code == 4 and "cmvn_opts" in capsys.readouterr().err
    assert not pwned(tmp_path)


@pytest.mark.kaldi
def test_recipe_alone_with_hostile_dirs_equals_the_plain_run(golden, golden_model, tmp_path):
    import kaldiio
    import numpy as np

    env = dict(os.environ, LC_ALL="C")
    runs = {}
    for tag, name in (("plain", "plain"), ("hostile", f"h{payload(tmp_path)} 'q"),):
        base = tmp_path / name
        base.mkdir()
        data = base / "data"
        wavs = [str(golden / "wav" / f"{u}.wav") for u in UTTS]
        r = recipe("local/make_data.sh", data, *wavs, env=env, cwd=base)
        assert r.returncode == 0, r.stderr
        model = golden_model(f"model-{tag}{payload(tmp_path) if tag == 'hostile' else ''}")
        r = recipe("getact.sh", "--nj", "2", "--write-output", "true", data, model,
                   base / "exp", env=env, cwd=base)
        assert r.returncode == 0, r.stderr[-2000:]
        runs[tag] = {u: m for u, m in kaldiio.load_scp(str(base / "exp" / "layer3.scp")).items()}
    assert sorted(runs["plain"]) == sorted(runs["hostile"]) == sorted(UTTS)
    for u in UTTS:
        assert np.array_equal(runs["plain"][u], runs["hostile"][u])
    assert not pwned(tmp_path)


@pytest.mark.kaldi
def test_nj_larger_than_the_utterances_just_works(golden, tmp_path, capsys):
    code = main(["activations", str(golden / "wav" / "utt1.wav"), "--model",
                 str(golden / "model"), "--out", str(tmp_path / "o"), "--engine", "kaldi",
                 "--nj", "2", "-q"])
    assert code == 0, capsys.readouterr().err

