"""Installable like any Python tool: `python -m build` makes an sdist and a wheel that carry
the Kaldi recipes and the demo model; installed into a fresh venv and used from an unrelated
directory, deepbrain works with no --model and finds its recipes.

Slow (a build and a venv, about a minute with a warm pip cache); needs PyPI or a pip cache
for the build backend and the dependencies, and skips with the reason otherwise.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from support import ROOT

pytestmark = pytest.mark.slow


def sh(*argv, cwd=None, env=None, check=True, timeout=900):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                       env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv}: exit {r.returncode}\n{r.stdout[-2000:]}\n"
                             f"{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    r = sh(sys.executable, "-m", "build", "--outdir", out, ROOT, check=False)
    if r.returncode != 0:
        if "No module named build" in r.stderr:
            pytest.skip("the 'build' package is not installed (pip install build)")
        if any(s in r.stderr for s in ("Could not find a version", "NewConnectionError",
                                       "Temporary failure in name resolution")):
            pytest.skip(f"cannot fetch the build backend: {r.stderr.strip().splitlines()[-1]}")
        raise AssertionError(r.stderr[-3000:])
    wheel = next(out.glob("deepbrain-*.whl"))
    sdist = next(out.glob("deepbrain-*.tar.gz"))
    return wheel, sdist


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    wheel, _ = dist
    v = tmp_path_factory.mktemp("venv") / "v"
    sh(sys.executable, "-m", "venv", v)
    r = sh(v / "bin" / "pip", "install", "--quiet", wheel, check=False, env=clean_env())
    if r.returncode != 0:
        pytest.skip(f"cannot install the wheel's dependencies here: "
                    f"{r.stderr.strip().splitlines()[-1]}")
    return v


@pytest.fixture
def elsewhere(tmp_path):
    d = tmp_path / "somewhere else"
    d.mkdir()
    return d


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DEEPBRAIN_KALDI_RECIPES", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def test_the_wheel_and_the_sdist_carry_the_recipes_and_the_demo_model(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("deepbrain/kaldi_recipes/getact.sh", "deepbrain/kaldi_recipes/path.sh",
              "deepbrain/kaldi_recipes/local/parse_options.sh",
              "deepbrain/kaldi_recipes/local/cluster.sh",
              "deepbrain/kaldi_recipes/conf/mfcc.conf", "deepbrain/models/demo/final.nnet",
              "deepbrain/models/demo/lda/1/vertices", "deepbrain/models/demo/phones.txt"):
        assert f in names, f
    assert not any("/utils" in n or "/exp/" in n for n in names)
    import tarfile
    members = tarfile.open(sdist).getnames()
    assert any(m.endswith("kaldi_recipes/getact.sh") for m in members)
    assert any(m.endswith("models/demo/final.nnet") for m in members)
    print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")


def test_installed_deepbrain_works_from_anywhere_without_a_model(venv, elsewhere):
    bin_ = venv / "bin"
    env = clean_env(KALDI_ROOT="")
    r = sh(bin_ / "deepbrain", "models", cwd=elsewhere, env=env)
    demo = Path(r.stdout.split()[1])
    assert demo.is_relative_to(venv) and (demo / "final.nnet").is_file()
    r = sh(bin_ / "deepbrain", "info", cwd=elsewhere, env=env)
    assert "the demo model that ships with deepbrain" in r.stdout
    r = sh(bin_ / "deepbrain", "doctor", cwd=elsewhere, env=env)
    recipes = next(line for line in r.stdout.splitlines() if line.startswith("recipes"))
    assert Path(recipes.split(None, 1)[1]).is_relative_to(venv), recipes
    wav = sorted((demo / "examples").glob("*.wav"))[0]
    r = sh(bin_ / "deepbrain", "activations", wav, "--out", "acts", "--engine", "numpy",
           cwd=elsewhere, env=env)
    assert "using the demo model at" in r.stderr
    layer1 = dict(kaldiio.load_scp(str(elsewhere / "acts" / "layer1.scp")))
    assert list(layer1) == [wav.stem] and np.isfinite(layer1[wav.stem]).all()


@pytest.mark.kaldi
def test_installed_deepbrain_runs_the_kaldi_engine_from_its_installed_recipes(venv,
                                                                              elsewhere):
    bin_ = venv / "bin"
    env = clean_env()
    demo = Path(sh(bin_ / "deepbrain", "models", env=env).stdout.split()[1])
    wav = sorted((demo / "examples").glob("*.wav"))[0]
    for engine in ("kaldi", "numpy"):
        sh(bin_ / "deepbrain", "activations", wav, "--out", engine, "--engine", engine, "-q",
           cwd=elsewhere, env=env)
    for k in range(1, 6):
        a = dict(kaldiio.load_scp(str(elsewhere / "kaldi" / f"layer{k}.scp")))[wav.stem]
        b = dict(kaldiio.load_scp(str(elsewhere / "numpy" / f"layer{k}.scp")))[wav.stem]
        assert np.abs(a - b).max() <= 1e-3, k


@pytest.mark.gui
def test_installed_gui_takes_a_screenshot(venv, elsewhere):
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (Xvfb)")
    bin_ = venv / "bin"
    r = sh(bin_ / "pip", "install", "--quiet", "PyQt5>=5.15", "pyqtgraph>=0.13.7",
           "PyOpenGL>=3.1", check=False, env=clean_env())
    if r.returncode != 0:
        pytest.skip(f"cannot install the gui extra here: {r.stderr.strip().splitlines()[-1]}")
    env = clean_env(KALDI_ROOT="")
    demo = Path(sh(bin_ / "deepbrain", "models", env=env).stdout.split()[1])
    sh(bin_ / "deepbrain", "gui", "--wav", sorted((demo / "examples").glob("*.wav"))[0],
       "--frame",
       "50", "--screenshot", "shot.png", cwd=elsewhere, env=env)
    png = (elsewhere / "shot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
