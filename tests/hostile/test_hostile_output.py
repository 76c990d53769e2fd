"""Hostile outputs: results are never lost or half-written, whatever --out is (another
filesystem, a mount point, full, read-only, locked by another run, a file, /proc...)."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from support import speechlike, wav_bytes, write_tiny_model
from deepbrain.cli import main
from deepbrain.results import OutputLock, recover


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model(tmp_path):
    return write_tiny_model(tmp_path / "model")


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "a.wav"
    p.write_bytes(wav_bytes(speechlike(0.5)))
    return p


@pytest.fixture
def wav2(tmp_path):
    p = tmp_path / "b.wav"
    p.write_bytes(wav_bytes(speechlike(0.7, seed=3)))
    return p


def acts(capsys, wav, model, out, *extra):
    return run(capsys, "activations", wav, "--model", model, "--out", out, "--engine",
               "numpy", "-q", *extra)


def utts(out: Path, layer=1):
    return sorted(dict(kaldiio.load_scp(str(out / f"layer{layer}.scp"))))


def mount_tmpfs(where: Path, size: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    return where


@pytest.fixture
def mounts():
    made = []

    def make(where: Path, size="64m") -> Path:
        made.append(mount_tmpfs(where, size))
        return where

    yield make
    for m in reversed(made):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def no_leftovers(*dirs: Path) -> None:
    for d in dirs:
        if d.is_dir():
            hidden = [p.name for p in d.iterdir() if p.name.startswith(".")]
            assert hidden == [], f"left behind in {d}: {hidden}"


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs /dev/shm (another filesystem)")
def test_out_is_a_symlink_to_another_filesystem(tmp_path, capsys, model, wav, wav2):
    target = Path("/dev/shm") / f"deepbrain-test-{uuid.uuid4().hex}"
    target.mkdir()
    try:
        if os.stat(target).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same filesystem here")
        link = tmp_path / "link"
        link.symlink_to(target)
        code, _, err = acts(capsys, wav, model, link)
        assert code == 0, err
        assert utts(link) == ["a"]
        code, _, err = acts(capsys, wav2, model, link, "--force")
        assert code == 0, err
        assert utts(link) == ["b"]
        no_leftovers(tmp_path, target)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_out_is_a_mount_point(tmp_path, capsys, model, wav, wav2, mounts):
    out = mounts(tmp_path / "mnt")
    code, _, err = acts(capsys, wav, model, out)
    assert code == 0, err
    code, _, err = acts(capsys, wav2, model, out, "--force")
    assert code == 0, err
    assert utts(out) == ["b"]
    no_leftovers(tmp_path, out)


def test_disk_full_keeps_the_old_results(tmp_path, capsys, model, wav, mounts):
    out = mounts(tmp_path / "small", "96k")
    code, _, err = acts(capsys, wav, model, out)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    big = tmp_path / "big.wav"
    big.write_bytes(wav_bytes(speechlike(20.0)))
    code, _, err = acts(capsys, big, model, out, "--force")
    assert code == 5
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and str(out) in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    no_leftovers(out)


def test_read_only_out_is_found_before_any_work(tmp_path, capsys, model, wav, mounts,
                                                monkeypatch):
    out = mounts(tmp_path / "ro")
    subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    import deepbrain.pipeline as pipeline

    monkeypatch.setattr(pipeline, "compute_activations",
                        lambda *a, **k: pytest.fail("computed before checking --out"))
    for target in (out, out / "sub"):
        code, _, err = acts(capsys, wav, model, target)
        assert code == 5 and err.count("\n") == 1, err
        assert str(out) in err and "choose another --out" in err


@pytest.mark.parametrize("name", ["under-a-file", "proc", "empty", "long", "dangling"])
def test_bad_out_paths(tmp_path, capsys, model, wav, name):
    (tmp_path / "f").write_text("x")
    (tmp_path / "dangle").symlink_to(tmp_path / "nowhere" / "deeper")
    out = {"under-a-file": tmp_path / "f" / "x", "proc": "/proc/self/x", "empty": "",
           "long": tmp_path / ("n" * 250), "dangling": tmp_path / "dangle"}[name]
    code, _, err = acts(capsys, wav, model, out)
    if name == "long":  # a long but legal name simply works
        assert code == 0, err
        assert utts(Path(out)) == ["a"]
        no_leftovers(tmp_path, Path(out))
        return
    assert code == 5, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--out" in err


def test_a_second_run_into_the_same_out_is_refused(tmp_path, capsys, model, wav):
    out = tmp_path / "out"
    out.mkdir()
    lock = OutputLock(out).acquire()
    try:
        code, _, err = acts(capsys, wav, model, out)
        assert code == 5
        assert f"another deepbrain run (pid {os.getpid()})" in err
    finally:
        lock.release()
    assert not (out / ".deepbrain.lock").exists()
    code, _, err = acts(capsys, wav, model, out)
    assert code == 0, err


def test_two_real_processes_race_for_one_out(tmp_path, model):
    """Started together, both without --force: one writes, the other is refused; never
    both 0 with the later silently replacing the earlier."""
    big = tmp_path / "big.wav"
    big.write_bytes(wav_bytes(speechlike(30.0)))
    out = tmp_path / "out"
    argv = ["-m", "deepbrain", "activations", str(big), "--model", str(model), "--out",
            str(out), "--engine", "numpy", "-q"]
    procs = [subprocess.Popen([sys.executable, *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 5], results
    refused = next(e for c, e in results if c == 5)
    assert "another deepbrain run" in refused or "already holds results" in refused
    no_leftovers(out)


def make_set(d: Path, tag: str) -> None:
    for name in ("layer1.ark", "layer1.scp", "utt2num_frames", "summary.json"):
        (d / name).write_text(tag)


@pytest.mark.parametrize("stage", ["moving-old", "moving-new", "new-complete"])
def test_a_killed_commit_is_finished_or_rolled_back(tmp_path, stage):
    """A run SIGKILLed inside the commit leaves a backup; the next run restores one
    complete set (the old one unless the new one was wholly in place)."""
    out = tmp_path / "out"
    out.mkdir()
    backup = out / ".deepbrain-old-424242"
    backup.mkdir()
    (out / ".deepbrain-new-424242").mkdir()
    (out / "mine.txt").write_text("user's")
    if stage == "moving-old":       # half the old set moved to the backup
        make_set(backup, "old")
        for name in ("layer1.ark", "layer1.scp"):
            (backup / name).rename(out / name)
    else:
        make_set(backup, "old")
        (backup / ".complete").touch()
        make_set(out, "new")
        if stage == "moving-new":   # summary.json (moved last) not there yet
            (out / "summary.json").unlink()
    done = recover(out)
    assert done
    expect = "new" if stage == "new-complete" else "old"
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "layer1.ark": expect, "layer1.scp": expect, "utt2num_frames": expect,
        "summary.json": expect, "mine.txt": "user's"}


def test_keep_workdir_that_is_a_file(tmp_path, capsys, model, wav):
    f = tmp_path / "kw"
    f.write_text("x")
    code, _, err = run(capsys, "activations", wav, "--model", model, "--out", tmp_path / "o",
                       "--engine", "numpy", "--keep-workdir", f)
    assert code != 0 and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_nothing_is_left_when_the_engine_fails(tmp_path, capsys, model, wav):
    bad = tmp_path / "short.wav"
    bad.write_bytes(wav_bytes(speechlike(0.001)))
    out = tmp_path / "deep" / "er" / "out"
    code, _, err = run(capsys, "activations", wav, bad, "--model", model, "--out", out,
                       "--engine", "numpy", "-q")
    assert code == 3, err
    assert not (tmp_path / "deep").exists()


def test_results_survive_numbers(tmp_path, capsys, model, wav):
    out = tmp_path / "o"
    code, _, err = acts(capsys, wav, model, out)
    assert code == 0, err
    m = dict(kaldiio.load_scp(str(out / "layer1.scp")))["a"]
    assert np.isfinite(m).all()
