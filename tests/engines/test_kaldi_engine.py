"""The Kaldi engine: its work dir, its error reports (no Kaldi needed), and, with real Kaldi
(marker ``kaldi``), the recipe against ../shared/kaldi-golden and against the numpy engine."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from support import ROOT, SPEECH, UTTS, speechlike, wav_bytes
from deepbrain.engines import kaldi_engine
from deepbrain.errors import AudioError, KaldiError
from deepbrain.model import load_model
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs

NASTY = ["my recording (2).wav", "it's $(touch pwned); rm -rf x.wav", "a  b\t.wav", "ü.wav"]


def test_data_dir_gives_safe_ids_and_paths(tmp_path, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(NASTY):
        (src / name).write_bytes(wav_bytes(speechlike(0.3, seed=i)))
    (src / "wide.wav").write_bytes(wav_bytes(speechlike(0.3).astype(np.int64) * 256, bits=24))
    utts = utterances_from_wavs(sorted(src.iterdir()))
    work = tmp_path / "work"
    work.mkdir()
    ids = kaldi_engine._make_data_dir(utts, load_model(tiny_model), Request((1,)), work)
    assert sorted(ids.values()) == sorted(u.utt_id for u in utts)
    scp = (work / "data" / "wav.scp").read_text().splitlines()
    for line in scp:
        safe, path = line.split(" ", 1)
        assert set(safe) <= set("su0123456789-") and Path(path).is_file()
        assert all(c not in path for c in " '$;()\t")
    assert [l.split()[0] for l in scp] == sorted(l.split()[0] for l in scp)
    wide = next(s for s, u in ids.items() if u == "wide")
    assert not (work / "data" / "wav" / f"{wide}.wav").is_symlink()  # converted to 16-bit
    spk2utt = (work / "data" / "spk2utt").read_text().split()
    assert len(spk2utt) == 2 * len(utts)  # one speaker per utterance
    assert not (Path.cwd() / "pwned").exists()
    assert not (work / "conf").exists()  # the recipe reads the front end from the model dir


def test_data_dir_rejects_bad_audio_like_numpy(tmp_path, tiny_model):
    p = tmp_path / "short.wav"
    p.write_bytes(wav_bytes(speechlike(0.01)))
    (tmp_path / "w").mkdir()
    with pytest.raises(AudioError, match="zero frames"):
        kaldi_engine._make_data_dir(utterances_from_wavs([p]), load_model(tiny_model),
                                    Request((1,)), tmp_path / "w")


def test_failed_stage_is_reported_with_command_log_and_tail(tmp_path):
    log = tmp_path / "exp" / "log"
    log.mkdir(parents=True)
    (log / "mfcc.1.log").write_text("# compute-mfcc-feats --config=c scp:a ark:b\n# Started\n"
                                    "# Ended (code 0) at now\n")
    (log / "cmvn.stats.2.log").write_text(
        "# compute-cmvn-stats --spk2utt=ark:s scp:f ark,scp:c,d\n# Started at x\n"
        "ERROR (compute-cmvn-stats[5.5]:main():x.cc:10) bad things\n"
        "# Accounting: time=0 threads=1\n# Ended (code 1) at now\n")
    done, failed = kaldi_engine._log_status(log)
    assert done == {"mfcc": 1} and failed == [(log / "cmvn.stats.2.log", 1)]
    err = kaldi_engine._failure(tmp_path, 1, Path("getact.sh"))
    text = str(err)
    assert text.startswith("Kaldi stage cmvn failed (exit 1): compute-cmvn-stats --spk2utt")
    assert "log: " + str(log / "cmvn.stats.2.log") in text and "bad things" in text


def test_a_cluster_jobs_log_is_read_as_run_pl_s(tmp_path):
    """slurm.pl's and queue.pl's job scripts write a header (host, start, the scheduler's
    variables) before the command and end with '# Finished at ... with status N'."""
    log = tmp_path / "exp" / "log"
    log.mkdir(parents=True)
    header = ("# Running on node7\n# Started at Sun Nov 29 12:30:40 UTC 2026\n"
              "# SLURM_ARRAY_JOB_ID=41\n# SLURM_ARRAY_TASK_ID={j}\n# SLURM_JOB_ID=4{j}\n")
    footer = ("# Accounting: begin_time=1 \n# Accounting: end_time=2\n"
              "# Accounting: time=1 threads=1\n# Finished at Sun Nov 29 12:30:41 UTC 2026 "
              "with status {code}\n")
    (log / "transform.1.log").write_text(
        header.format(j=1) + "# transform-feats /m/final.mat scp:s.1.scp ark,scp:t.1.ark,t.1.scp \n"
        + footer.format(code=0))
    (log / "transform.2.log").write_text(
        header.format(j=2) + "# transform-feats /m/final.mat scp:s.2.scp ark,scp:t.2.ark,t.2.scp \n"
        "transform-feats /m/final.mat scp:s.2.scp ark,scp:t.2.ark,t.2.scp\n"
        "ERROR (transform-feats[5.5]:Read():kaldi-matrix.cc:1) Failed to read matrix\n"
        "[ Stack-Trace: ]\nkaldi::MessageLogger::LogMessage() const\n" + footer.format(code=1))
    (log / "forward.layer1.1.log").write_text(header.format(j=1) + "# nnet-forward x\n")
    done, failed = kaldi_engine._log_status(log)
    assert done == {"transform": 1} and failed == [(log / "transform.2.log", 1)]
    text = str(kaldi_engine._failure(tmp_path, 1, Path("getact.sh")))
    assert text.startswith("Kaldi stage transform failed (exit 1): transform-feats "
                           "/m/final.mat scp:s.2.scp")
    assert f"log: {log / 'transform.2.log'}" in text and "Failed to read matrix" in text
    assert "Stack-Trace" not in text and "SLURM" not in text


def test_the_out_dir_is_ready_for_queue_and_slurm_jobs(tmp_path, tiny_model):
    """Their job scripts cd into getact.sh's out dir and source ./path.sh, and read
    conf/slurm.conf there: getact.sh puts both there (the user's conf from the directory it
    is started in). A Kaldi tree without binaries gets it as far as that."""
    root = tmp_path / "kaldi root's"
    for d in ("src/featbin", "src/nnetbin", "src/bin", "egs/wsj/s5/utils"):
        (root / d).mkdir(parents=True)
    here = tmp_path / "here"
    (here / "conf").mkdir(parents=True)
    (here / "conf" / "slurm.conf").write_text("command sbatch -p test\n")
    data = here / "data"
    data.mkdir()
    wav = here / "a.wav"
    wav.write_bytes(wav_bytes(speechlike(0.3)))
    (data / "wav.scp").write_text(f"a {wav}\n")
    (data / "utt2spk").write_text("a a\n")
    (data / "spk2utt").write_text("a a\n")
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "getact.sh"), "--cmd", "slurm.pl",
                        "data", str(tiny_model), "exp"], cwd=here, capture_output=True,
                       text=True, env=dict(os.environ, KALDI_ROOT=str(root)))
    assert r.returncode != 0 and "nnet-info" in r.stderr  # stopped where Kaldi is needed
    exp = here / "exp"
    assert (exp / "conf" / "slurm.conf").read_text() == "command sbatch -p test\n"
    assert not (exp / "conf" / "queue.conf").exists()
    r = subprocess.run(["bash", "-c", ". ./path.sh; echo \"$KALDI_ROOT\""], cwd=exp,
                       capture_output=True, text=True)   # sourced as the job scripts do
    assert r.stdout.strip() == str(root)
    assert "src/featbin" not in r.stderr                   # the recipes' path.sh found it


def fake_root(tmp_path, binaries):
    root = tmp_path / "kaldi"
    for d in ("src/featbin", "src/nnetbin", "src/bin", "egs/wsj/s5/utils"):
        (root / d).mkdir(parents=True)
    for b in binaries:
        d = "src/featbin" if "feat" in b or "cmvn" in b and "nnet" not in b else "src/nnetbin"
        f = root / d / b
        f.write_text("#!/bin/sh\n")
        f.chmod(0o755)
    return root


def test_require_names_what_is_missing(tmp_path):
    root = fake_root(tmp_path, ["nnet-forward", "compute-mfcc-feats"])
    kaldi = kaldi_engine.find_kaldi({"KALDI_ROOT": str(root), "PATH": ""})
    assert "nnet-copy" in kaldi.missing and "utils/run.pl" in kaldi.missing
    with pytest.raises(KaldiError, match="lacks compute-fbank-feats, .*compute-cmvn-stats, "
                                         "apply-cmvn.*fix KALDI_ROOT"):
        kaldi_engine.require(kaldi)
    assert kaldi_engine.find_kaldi({"PATH": str(tmp_path)}) is None


def test_kaldi_on_path_is_found_with_its_checkout(tmp_path):
    root = fake_root(tmp_path, kaldi_engine.BINARIES)
    for u in kaldi_engine.UTILS:
        (root / "egs/wsj/s5/utils" / u).write_text("")
    kaldi = kaldi_engine.find_kaldi({"PATH": str(root / "src" / "nnetbin")})
    assert kaldi.root == root.resolve() and not kaldi.missing
    assert kaldi_engine.require(kaldi).startswith("Kaldi found at PATH")


# -- with real Kaldi -------------------------------------------------------------------------



@pytest.fixture(scope="module")
def recipe_run(golden, tmp_path_factory):
    """getact.sh run on its own, as a user would: make_data.sh then getact.sh --nj 2."""
    work = tmp_path_factory.mktemp("recipe")
    recipes = ROOT / "kaldi_recipes"
    env = dict(os.environ, LC_ALL="C")
    wavs = [str(golden / "wav" / f"{u}.wav") for u in UTTS]
    subprocess.run(["bash", str(recipes / "local" / "make_data.sh"), str(work / "data")] + wavs,
                   check=True, env=env, capture_output=True)
    model = work / "model"
    shutil.copytree(golden / "model", model)
    (model / "conf").mkdir()
    shutil.copy(golden / "mfcc.conf", model / "conf" / "mfcc.conf")
    r = subprocess.run(["bash", str(recipes / "getact.sh"), "--nj", "2", "--write-output", "true",
                        "--keep-intermediate", "true", str(work / "data"), str(model),
                        str(work / "exp")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return work / "exp"


def same_as_golden(got, want) -> bool:
    """Kaldi here against the golden Kaldi outputs, made on another machine: within 1e-5
    plus a millionth of the matrix's largest value. Kaldi's own float32 results move by a
    few ulps from one CPU's BLAS kernels to another's (fused multiply-adds, AVX-512): measured 2.9e-5 on MFCCs
    of about 80 (4 ulps), and 4e-3 on CMVN statistics (sums of about 2e5, kept as doubles)."""
    return float(np.abs(got - want).max(initial=0)) <= 1e-5 + 1e-6 * float(np.abs(want).max(initial=0))


@pytest.mark.kaldi
def test_recipe_equals_golden(recipe_run, golden_arks):
    assert (recipe_run / ".done").is_file()
    for name in ("feats", "cmvn", "cmvn_feats", "spliced", "transformed", "nnet_input",
                 "layer1", "layer2", "layer3"):
        got = dict(kaldiio.load_scp(str(recipe_run / f"{name}.scp")))
        assert sorted(got) == list(UTTS), name
        for u in UTTS:
            assert same_as_golden(got[u], golden_arks[name][u]), (name, u)
    out = dict(kaldiio.load_scp(str(recipe_run / "output.scp")))
    for u in UTTS:
        assert same_as_golden(out[u], golden_arks["posteriors"][u])


@pytest.mark.kaldi
def test_recipe_names_missing_inputs(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "getact.sh"), str(tmp_path / "d"),
                        str(tmp_path / "m"), str(tmp_path / "e")], capture_output=True, text=True)
    assert r.returncode != 0
    for f in ("d/wav.scp", "d/utt2spk", "d/spk2utt", "m/final.nnet"):
        assert f in r.stderr


@pytest.fixture(scope="module")
def both_engines(golden):
    utts = utterances_from_wavs([golden / "wav" / f"{u}.wav" for u in UTTS])
    model = load_model(golden / "model")
    req = Request((1, 2, 3), output=True, keep_intermediate=True, nj=2)
    return ({a.utt_id: a for a in compute_activations(utts, model, req, "kaldi")},
            {a.utt_id: a for a in compute_activations(utts, model, req, "numpy")})


@pytest.mark.kaldi
def test_kaldi_engine_equals_numpy_engine(both_engines, golden_arks):
    """<= 1e-3 on speech and noise; the sweep (utt4) carries the float32 MFCC round-off in
    near-empty mel bins that no other float32 FFT reproduces (<= 1e-2, as for golden)."""
    kaldi, numpy_ = both_engines
    for u in UTTS:
        tol = 1e-3 if u in SPEECH else 1e-2
        assert kaldi[u].engine == "kaldi"
        worst = max(float(np.abs(kaldi[u].layers[k] - numpy_[u].layers[k]).max())
                    for k in (1, 2, 3))
        print(f"{u}: max |kaldi - numpy| over hidden layers {worst:.2e}")
        assert worst <= tol, u
        for k in (1, 2, 3):
            assert same_as_golden(kaldi[u].layers[k], golden_arks[f"layer{k}"][u])
        assert np.abs(kaldi[u].output - numpy_[u].output).max() <= tol
        for name, m in kaldi[u].stages.items():
            assert same_as_golden(m, golden_arks[name][u]), (u, name)


@pytest.mark.kaldi
def test_kaldi_failure_is_an_error_not_a_fallback(golden, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(golden / "model", d)
    model = load_model(d)
    (d / "final.mat").write_bytes((d / "final.mat").read_bytes()[:100])  # corrupt after load
    utts = utterances_from_wavs([golden / "wav" / "utt1.wav"])
    with pytest.raises(KaldiError) as e:
        list(compute_activations(utts, model, Request((1,)), "auto"))
    msg = str(e.value)
    assert re.match(r"Kaldi stage transform failed \(exit \d+\): transform-feats", msg)
    assert "log: " in msg and "transform.1.log" in msg and "ERROR (transform-feats" in msg
    assert "Stack-Trace" not in msg


@pytest.mark.kaldi
def test_progress_follows_the_stage_logs(golden):
    seen = []
    utts = utterances_from_wavs([golden / "wav" / f"{u}.wav" for u in UTTS])
    list(compute_activations(utts, load_model(golden / "model"), Request((1, 2, 3), nj=2),
                             "kaldi", progress=seen.append))
    stages = [p.stage for p in seen]
    assert stages.index("mfcc") < stages.index("cmvn") < stages.index("forward")
    last = {p.stage: p for p in seen}
    # a job each: the feature transform, the chunks' row ranges, the three layers' pieces
    assert last["forward"].done == last["forward"].total == 10


@pytest.mark.kaldi
def test_python_cut_pieces_are_byte_identical_to_nnet_copy(golden, tmp_path):
    from deepbrain.nnet1 import nnet_bytes, read_nnet
    nnet_copy = os.path.join(os.environ["KALDI_ROOT"], "src", "nnetbin", "nnet-copy")
    net = read_nnet(golden / "model" / "final.nnet")
    bounds = [0, 2, 4, 6, 8]
    for k, piece in enumerate(net.layer_pieces()):
        out = tmp_path / f"p{k}"
        subprocess.run([nnet_copy, f"--remove-first-components={bounds[k]}",
                        f"--remove-last-components={8 - bounds[k + 1]}",
                        str(golden / "model" / "final.nnet"), str(out)], check=True,
                       capture_output=True)
        assert nnet_bytes(piece) == out.read_bytes(), k


@pytest.mark.kaldi
def test_make_data_sh_never_lets_a_name_reach_a_shell(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(NASTY):
        (src / name).write_bytes(wav_bytes(speechlike(0.3, seed=i)))
    data = tmp_path / "data"
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "local" / "make_data.sh"),
                        str(data)] + [str(src / n) for n in NASTY], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "pwned").exists() and not list(tmp_path.rglob("pwned"))
    lines = (data / "wav.scp").read_text().splitlines()
    assert len(lines) == len(NASTY)
    for line in lines:
        utt, path = line.split(" ", 1)
        assert all(c not in utt + path for c in " '$;()\t") and Path(path).is_file()
    assert (data / "spk2utt").read_text().count("\n") == len(NASTY)
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "local" / "make_data.sh"),
                        str(data), str(src / NASTY[0])], capture_output=True, text=True)
    assert r.returncode != 0 and "already holds a data dir" in r.stderr


def test_data_dir_converts_a_piece_at_a_time_what_numpy_reads(tmp_path, tiny_model,
                                                               monkeypatch):
    """Converted wavs (24-bit, resampled) hold exactly the samples the numpy engine reads,
    written from open_for_model's pieces: nothing loads a wav whole."""
    from deepbrain import audio
    from deepbrain.audio import open_for_model

    def whole(*a, **k):
        raise AssertionError("a wav was loaded whole")

    monkeypatch.setattr(audio, "read_wav", whole)
    monkeypatch.setattr(audio, "load_for_model", whole)
    wide = tmp_path / "wide.wav"
    wide.write_bytes(wav_bytes(speechlike(1.5).astype(np.int64) * 256, bits=24))
    fast = tmp_path / "fast.wav"
    fast.write_bytes(wav_bytes(speechlike(1.5, rate=22050), rate=22050))
    work = tmp_path / "work"
    work.mkdir()
    utts = utterances_from_wavs([wide, fast])
    ids = kaldi_engine._make_data_dir(utts, load_model(tiny_model), Request((1,), resample=True),
                                      work)
    import wave
    for safe, user in ids.items():
        path = work / "data" / "wav" / f"{safe}.wav"
        assert not path.is_symlink()
        with wave.open(str(path)) as w:
            written = np.frombuffer(w.readframes(w.getnframes()), "<i2")
            assert w.getframerate() == 16000
        with open_for_model(tmp_path / f"{user}.wav", 16000, None, True) as src:
            expected = np.concatenate(list(src.pieces()))
        assert np.array_equal(written, expected), user


def test_the_networks_checksum_is_kept_by_the_files_stamps(tmp_path):
    """The pieces' cache key: hashed once per file version, hashed again when it changes, and
    a memo that is garbage or cannot be written costs only the hashing."""
    import hashlib

    net, memo = tmp_path / "final.nnet", tmp_path / "memo"
    net.write_bytes(b"a" * 1000)
    want = hashlib.sha256(b"a" * 1000).hexdigest()[:32]
    assert kaldi_engine._checksum(net, memo) == want
    (kept,) = memo.iterdir()
    kept.write_text("f" * 32)  # the memo is what is read while the file is unchanged
    assert kaldi_engine._checksum(net, memo) == "f" * 32
    net.write_bytes(b"b" * 1000)  # same size, new stamps
    assert kaldi_engine._checksum(net, memo) == hashlib.sha256(b"b" * 1000).hexdigest()[:32]
    for entry in memo.iterdir():
        entry.write_text("$(rm -rf ~)\n")  # garbage: hashed again, never used
    assert kaldi_engine._checksum(net, memo) == hashlib.sha256(b"b" * 1000).hexdigest()[:32]
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the memo dir would go")
    assert kaldi_engine._checksum(net, blocked) == hashlib.sha256(b"b" * 1000).hexdigest()[:32]


@pytest.mark.kaldi
@pytest.mark.parametrize("chunk", [7, 100])
def test_chunked_recipe_gives_the_same_rows(recipe_run, tmp_path, chunk):
    """getact.sh --chunk-frames N: each utterance's layers and output as <utt>-cNNNNNNN
    pieces of N rows whose rows, in order, are the whole-utterance run's (the network after
    its feature transform treats each frame alone) to float32 rounding: BLAS kernels may
    sum a row's products in another order for another number of rows."""
    work = recipe_run.parent
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "getact.sh"), "--nj", "2",
                        "--write-output", "true", "--chunk-frames", str(chunk),
                        str(work / "data"), str(work / "model"), str(tmp_path / "exp")],
                       env=dict(os.environ, LC_ALL="C"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("layer1", "layer2", "layer3", "output"):
        whole = dict(kaldiio.load_scp(str(recipe_run / f"{name}.scp")))
        pieces = dict(kaldiio.load_scp(str(tmp_path / "exp" / f"{name}.scp")))
        for utt, m in whole.items():
            mine = sorted(k for k in pieces if k.rsplit("-c", 1)[0] == utt)
            assert [int(k.rsplit("-c", 1)[1]) for k in mine] == list(range(0, len(m), chunk))
            assert all(pieces[k].shape[0] == chunk for k in mine[:-1])
            diff = np.abs(np.concatenate([pieces[k] for k in mine]) - m).max()
            print(f"{name} {utt} chunk {chunk}: {diff:.2e} of {np.abs(m).max():.3g}")
            assert diff <= 1e-6 * max(1.0, np.abs(m).max()), (name, utt)


@pytest.mark.parametrize("value", ["-1", "1e3", "x", "12345678", "3;id"])
def test_recipe_refuses_a_bad_chunk_size(tmp_path, value):
    r = subprocess.run(["bash", str(ROOT / "kaldi_recipes" / "getact.sh"), "--chunk-frames",
                        value, str(tmp_path / "d"), str(tmp_path / "m"), str(tmp_path / "e")],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"--chunk-frames must be a whole number 0..9999999 (0: whole utterances), not " \
           f"'{value}'" in r.stderr
    assert not (tmp_path / "e").exists()
