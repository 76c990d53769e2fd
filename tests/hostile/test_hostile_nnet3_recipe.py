"""getact_nnet3.sh is as safe as getact.sh: its own options are never evaluated, wav.scp
commands are refused unless allowed, and a cluster command never gets an out dir a shell
would read. (The options read from the model's files: tests/nnet3/test_nnet3_kaldi.py.)"""

import os
import stat

from test_hostile_kaldi import MARK, data_dir, fake_kaldi, payload, pwned, recipe


def fake_nnet3_kaldi(tmp_path):
    """A Kaldi tree whose programs exist (getact_nnet3.sh looks for them first) and fail."""
    root = fake_kaldi(tmp_path)
    for d in ("src/nnet3bin", "src/online2bin"):
        (root / d).mkdir(parents=True)
    for prog in ("compute-mfcc-feats", "select-feats", "copy-feats", "nnet3-info", "nnet3-copy",
                 "nnet3-compute", "ivector-extract-online2"):
        sub = "featbin" if "feats" in prog else "online2bin" if "ivector" in prog else "nnet3bin"
        p = root / "src" / sub / prog
        p.write_text("#!/bin/sh\necho fake Kaldi >&2\nexit 1\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return root


def nnet3_model(tmp_path):
    m = tmp_path / "m3"
    (m / "conf").mkdir(parents=True)
    (m / "final.mdl").write_bytes(b"not read before the checks")
    (m / "conf" / "mfcc.conf").write_text("--num-ceps=40\n")
    return m


def env_for(root):
    return dict(os.environ, KALDI_ROOT=str(root))


def test_option_values_are_never_evaluated(tmp_path):
    root = fake_nnet3_kaldi(tmp_path)
    r = recipe("getact_nnet3.sh", "--layers", f"1{payload(tmp_path)}", data_dir(tmp_path),
               nnet3_model(tmp_path), tmp_path / "exp", env=env_for(root), cwd=tmp_path)
    assert r.returncode == 1 and "--layers" in r.stderr and "a shell would interpret" in r.stderr
    assert not pwned(tmp_path)


def test_config_files_are_refused_as_options(tmp_path):
    root = fake_nnet3_kaldi(tmp_path)
    r = recipe("getact_nnet3.sh", "--config", "x", "d", "m", "e", env=env_for(root))
    assert r.returncode == 1 and "--config is not supported" in r.stderr


def test_wav_scp_commands_are_refused_unless_allowed(tmp_path):
    root = fake_nnet3_kaldi(tmp_path)
    data = data_dir(tmp_path, wav_line=f"a touch {tmp_path}/{MARK} |\n")
    r = recipe("getact_nnet3.sh", data, nnet3_model(tmp_path), tmp_path / "exp",
               env=env_for(root))
    assert r.returncode == 1 and "entry a is a command or stdin" in r.stderr
    assert "--allow-pipes true" in r.stderr
    assert not (tmp_path / "exp").exists()  # refused before anything is written
    assert not pwned(tmp_path)


def test_cluster_commands_refuse_an_out_dir_a_shell_would_read(tmp_path):
    root = fake_nnet3_kaldi(tmp_path)
    r = recipe("getact_nnet3.sh", "--cmd", "slurm.pl", data_dir(tmp_path),
               nnet3_model(tmp_path), tmp_path / f"exp{payload(tmp_path)}", env=env_for(root))
    assert r.returncode == 1 and "writes this path into its job scripts" in r.stderr
    assert not pwned(tmp_path)


def test_a_hostile_model_dir_name_runs_nothing(tmp_path):
    """The model dir is linked in as 'model'; its name never reaches run.pl."""
    root = fake_nnet3_kaldi(tmp_path)
    model = nnet3_model(tmp_path)
    hostile = tmp_path / f"m{payload(tmp_path)}"
    model.rename(hostile)
    r = recipe("getact_nnet3.sh", data_dir(tmp_path), hostile, tmp_path / "exp",
               env=env_for(root), cwd=tmp_path)
    assert r.returncode == 1 and "fake Kaldi" in (tmp_path / "exp/log/nnet3-info.log").read_text()
    assert not pwned(tmp_path)
