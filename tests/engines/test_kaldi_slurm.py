"""Kaldi jobs on a real Slurm cluster (one node: this machine) through Kaldi's slurm.pl:
getact.sh, ``deepbrain activations`` and ``deepbrain build-map`` give exactly what run.pl
gives, and a job that fails on the cluster names its log as with run.pl.

Marked ``kaldi`` (KALDI_ROOT) and ``slurm`` (Debian's slurm-wlm and munge installed; the
cluster is started for these tests and stopped after them, see slurmsupport.py)."""

import json
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from slurmsupport import SingleNodeSlurm, missing
from support import ROOT, UTTS
from deepbrain.cli import main
from deepbrain.errors import KaldiError
from deepbrain.model import load_model
from deepbrain.options import MfccOptions
from deepbrain.pipeline import Request, compute_activations, read_wav_scp

pytestmark = [pytest.mark.kaldi, pytest.mark.slurm]
LAYERS = ("layer1", "layer2", "layer3")


@pytest.fixture(scope="module")
def slurm():
    lacking = missing()
    if lacking:
        pytest.skip(f"needs Slurm and munge for a single-node cluster (apt-get install "
                    f"slurm-wlm munge): {', '.join(lacking)} not found")
    # not under pytest's tmp dir: munged wants its socket's parents open to all (0755)
    root = Path(tempfile.mkdtemp(prefix="deepbrain-slurm-"))
    cluster = SingleNodeSlurm(root)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def site(golden, slurm, tmp_path_factory):
    """What a user has: kaldi_recipes with a conf/slurm.conf for the cluster (slurm.pl reads
    it from the directory it runs in), a data dir of the golden wavs, the golden model."""
    d = tmp_path_factory.mktemp("site")
    recipes = d / "kaldi_recipes"
    shutil.copytree(ROOT / "kaldi_recipes", recipes,
                    ignore=shutil.ignore_patterns("data", "exp", "utils"))
    (recipes / "conf" / "slurm.conf").write_text(slurm.kaldi_conf())
    env = dict(slurm.env, LC_ALL="C", OMP_NUM_THREADS="1")  # exported to the jobs too
    wavs = [str(golden / "wav" / f"{u}.wav") for u in UTTS]
    subprocess.run(["bash", str(recipes / "local" / "make_data.sh"), str(d / "data")] + wavs,
                   check=True, env=env, capture_output=True)
    model = d / "model"
    shutil.copytree(golden / "model", model)
    (model / "conf").mkdir()
    shutil.copy(golden / "mfcc.conf", model / "conf" / "mfcc.conf")
    (d / "wav.scp").write_text("".join(f"{u} {w}\n" for u, w in zip(UTTS, wavs)))
    return {"dir": d, "recipes": recipes, "env": env, "model": model}


def getact(site, exp, *options, model=None):
    """getact.sh run as the README says: from kaldi_recipes/."""
    return subprocess.run(["./getact.sh", *options, str(site["dir"] / "data"),
                           str(model or site["model"]), str(exp)],
                          cwd=site["recipes"], env=site["env"], capture_output=True, text=True)


def tables(exp: Path, names=LAYERS) -> dict:
    return {n: dict(kaldiio.load_scp(str(exp / f"{n}.scp"))) for n in names}


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert sorted(a[name]) == sorted(b[name]), name
        for utt in a[name]:
            assert np.array_equal(a[name][utt], b[name][utt]), (name, utt)


def test_getact_with_slurm_pl_equals_run_pl(site, slurm):
    run = getact(site, site["dir"] / "exp_run", "--nj", "1", "--cmd", "run.pl")
    assert run.returncode == 0, run.stderr[-2000:]
    on_slurm = getact(site, site["dir"] / "exp_slurm", "--nj", "4", "--cmd", "slurm.pl")
    assert on_slurm.returncode == 0, on_slurm.stderr[-2000:]
    exp = site["dir"] / "exp_slurm"
    names = LAYERS + ("feats", "cmvn_feats", "transformed")
    assert_same(tables(site["dir"] / "exp_run", names), tables(exp, names))
    # the jobs ran on the cluster: slurm.pl's job scripts and Slurm's variables in each log
    assert len(list((exp / "q").glob("*.sh"))) >= 8
    for j in range(1, 5):
        log = (exp / "log" / f"forward.layer3.{j}.log").read_text()
        assert f"# SLURM_ARRAY_TASK_ID={j}" in log and log.rstrip().endswith("with status 0")
    assert not slurm.jobs()


def test_a_failed_job_on_the_cluster_names_its_log(site, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(site["model"], model)
    (model / "final.mat").write_bytes((model / "final.mat").read_bytes()[:100])
    r = getact(site, tmp_path / "exp", "--nj", "2", "--cmd", "slurm.pl", model=model)
    assert r.returncode != 0
    assert f"slurm.pl: 2 / 2 failed, log is in {tmp_path / 'exp' / 'log'}/transform.*.log" \
        in r.stderr
    log = (tmp_path / "exp" / "log" / "transform.1.log").read_text()
    assert "ERROR (transform-feats" in log
    assert re.search(r"with status [1-9][0-9]*$", log.rstrip())


@pytest.fixture
def on_site(site, monkeypatch):
    """The engine's environment: the site's recipes, the cluster, one BLAS thread."""
    monkeypatch.setenv("DEEPBRAIN_KALDI_RECIPES", str(site["recipes"]))
    for name in ("SLURM_CONF", "OMP_NUM_THREADS"):
        monkeypatch.setenv(name, site["env"][name])
    return site


def test_the_engine_reports_a_failed_cluster_job_with_its_log(on_site, tmp_path):
    site = on_site
    d = tmp_path / "m"
    shutil.copytree(site["model"], d)
    model = load_model(d)
    (d / "final.mat").write_bytes((d / "final.mat").read_bytes()[:100])  # after loading
    utts = read_wav_scp(site["dir"] / "wav.scp")
    with pytest.raises(KaldiError) as e:
        list(compute_activations(utts, model, Request((1,), nj=2, cmd="slurm.pl",
                                                      keep_workdir=tmp_path / "w"), "kaldi"))
    msg = str(e.value)
    assert re.match(r"Kaldi stage transform failed \(exit \d+\): transform-feats \S+final.mat",
                    msg), msg
    assert f"log: {tmp_path / 'w' / 'exp' / 'log'}/transform." in msg
    assert "ERROR (transform-feats" in msg and "SLURM" not in msg
    assert (tmp_path / "w" / "exp" / "q").is_dir()   # it did go through slurm.pl


def test_activations_cli_with_slurm_equals_run_pl(on_site, tmp_path):
    site = on_site
    base = ["activations", "--scp", str(site["dir"] / "wav.scp"), "--model",
            str(site["model"]), "--engine", "kaldi", "-q"]
    assert main(base + ["--out", str(tmp_path / "run"), "--cmd", "run.pl"]) == 0
    assert main(base + ["--out", str(tmp_path / "slurm"), "--nj", "3", "--cmd",
                        "slurm.pl", "--keep-workdir", str(tmp_path / "w")]) == 0
    assert_same(tables(tmp_path / "run"), tables(tmp_path / "slurm"))
    assert len(list((tmp_path / "w" / "exp" / "q").glob("*.sh"))) >= 8


def test_build_map_with_slurm_equals_run_pl(on_site, tmp_path):
    site = on_site
    rng = np.random.default_rng(0)
    labels = {}
    opts = MfccOptions()
    for line in (site["dir"] / "wav.scp").read_text().splitlines():
        utt, wav = line.split()
        with wave.open(wav) as w:
            n = opts.num_frames(w.getnframes())
        labels[utt] = np.repeat(rng.integers(0, 5, n // 6 + 1), 6)[:n].astype(np.int32)
    kaldiio.save_ark(str(tmp_path / "labels.ark"), labels)
    (tmp_path / "phones.txt").write_text("sil 0\naa 1\niy 2\ns 3\nm 4\n")
    shutil.copy(site["dir"] / "wav.scp", tmp_path / "wav.scp")
    base = ["build-map", "--model", str(site["model"]), "--data", str(tmp_path),
            "--labels", str(tmp_path / "labels.ark"), "--phones", str(tmp_path / "phones.txt"),
            "--engine", "kaldi", "--nj", "2", "-q"]
    assert main(base + ["--out", str(tmp_path / "run"), "--cmd", "run.pl"]) == 0
    assert main(base + ["--out", str(tmp_path / "slurm"), "--cmd", "slurm.pl"]) == 0
    files = sorted(p.relative_to(tmp_path / "run") for p in (tmp_path / "run").rglob("*")
                   if p.is_file())
    assert len(files) == 3 * 6                         # 3 layers x vertices .. summary.json
    for f in files:
        assert (tmp_path / "run" / f).read_bytes() == (tmp_path / "slurm" / f).read_bytes(), f
    summary = json.loads((tmp_path / "slurm" / "lda" / "2" / "summary.json").read_text())
    assert summary["units"] == 256 and summary["frames"] > 0
