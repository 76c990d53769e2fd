"""Hostile wavs: names that are not UTF-8 (item 11), headers with absurd rates (item 12),
files that are not files (item 17: a FIFO named x.wav). One line, no traceback, no hang."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import kaldiio
import pytest

from deepbrain.errors import AudioError

from deepbrain import audio
from deepbrain.cli import main
from support import speechlike, wav_bytes

APP = Path(__file__).resolve().parents[2] / "app"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def deepbrain(*args, memory_limit=None, timeout=60):
    """``python -m deepbrain ARGS`` (arguments may be bytes, as a shell passes them)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))

    def limit():
        if memory_limit:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    argv = [sys.executable, "-m", "deepbrain"] + [a if isinstance(a, bytes) else str(a)
                                                  for a in args]
    return subprocess.run(argv, env=env, capture_output=True, timeout=timeout,
                          preexec_fn=limit)


# -- item 11: file names that are not UTF-8 --------------------------------------------------

@pytest.fixture
def non_utf8_wav(tmp_path) -> Path:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff name.wav"))
    path.write_bytes(wav_bytes(speechlike(0.5)))
    return path


def check_non_utf8_results(out: Path) -> None:
    for k in (1, 2):
        acts = dict(kaldiio.load_scp(str(out / f"layer{k}.scp")))
        assert list(acts) == ["bad\\xff_name"] and acts["bad\\xff_name"].shape[0] == 48
    assert (out / "utt2num_frames").read_text() == "bad\\xff_name 48\n"


def test_a_wav_name_that_is_not_utf8_numpy(non_utf8_wav, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, "activations", non_utf8_wav, "--model", tiny_model, "--out", out,
                       "--engine", "numpy", "-q")
    assert code == 0, err
    check_non_utf8_results(out)


@pytest.mark.kaldi
def test_a_wav_name_that_is_not_utf8_kaldi(non_utf8_wav, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, "activations", non_utf8_wav, "--model", tiny_model, "--out", out,
                       "--engine", "kaldi", "-q")
    assert code == 0, err
    check_non_utf8_results(out)


def test_a_non_utf8_name_from_the_shell(non_utf8_wav, tiny_model, tmp_path):
    r = deepbrain("activations", os.fsencode(non_utf8_wav), "--model", tiny_model, "--out",
                  tmp_path / "out", "--engine", "numpy", "-q")
    assert r.returncode == 0, r.stderr
    check_non_utf8_results(tmp_path / "out")


def test_a_broken_wav_with_a_non_utf8_name_is_one_line(tmp_path, tiny_model):
    bad = os.fsencode(tmp_path) + b"/\xfe\xff.wav"
    Path(os.fsdecode(bad)).write_bytes(b"RIFF....WAVEjunk")
    r = deepbrain("activations", bad, "--model", tiny_model, "--out", tmp_path / "out",
                  "--engine", "numpy", "-q")
    assert r.returncode == 3  # stderr shows the bytes that are not UTF-8 as \x escapes
    assert r.stderr == b"deepbrain: error: " + os.fsencode(tmp_path) + \
        b"/\\xfe\\xff.wav: no fmt  chunk; the wav is truncated or corrupt\n"


# -- item 12: absurd rates with --resample ---------------------------------------------------

@pytest.mark.parametrize("rate", [1, 999, 768001, 4294967295])
def test_an_absurd_header_rate_is_refused_before_allocating(rate, tmp_path, tiny_model):
    """A second of samples whose header says 1 Hz would resample to 16000 s (5.7 GiB seen);
    here under a 1.5 GB address-space limit that such an allocation would break."""
    wav = tmp_path / "odd.wav"
    data = bytearray(wav_bytes(speechlike(3.0), rate=1))
    data[24:28] = rate.to_bytes(4, "little")  # the fmt chunk's sample rate
    wav.write_bytes(bytes(data))
    r = deepbrain("activations", wav, "--model", tiny_model, "--out", tmp_path / "out",
                  "--engine", "numpy", "--resample", "-q", memory_limit=1536 * 2 ** 20)
    assert r.returncode == 3 and b"Traceback" not in r.stderr
    assert r.stderr.decode() == (
        f"deepbrain: error: {wav}: its header says {rate} Hz; deepbrain resamples from "
        f"1000..768000 Hz (a rate like that means the header is wrong): re-export the audio as "
        f"a 16000 Hz wav\n")
    assert not (tmp_path / "out").exists()


def test_a_model_rate_beyond_resampling(tmp_path, tiny_model, speech_wav, capsys):
    (tiny_model / "conf").mkdir()
    (tiny_model / "conf" / "mfcc.conf").write_text("--sample-frequency=2000000\n")
    code, _, err = run(capsys, "activations", speech_wav, "--model", tiny_model, "--out",
                       tmp_path / "out", "--engine", "numpy", "--resample")
    assert code == 3 and err.splitlines()[-1] == (
        f"deepbrain: error: {speech_wav}: cannot resample to the model's 2000000 Hz (deepbrain "
        f"resamples to 1000..768000 Hz); convert the wav to 2000000 Hz yourself")


def test_the_resampled_size_is_bounded_where_audio_is_held_whole(tmp_path, tiny_model,
                                                                   capsys, monkeypatch):
    """Resampling a whole file at once (the window's path) has a bound; the engines stream
    the audio through the resampler in pieces, so they need none and give the same frames."""
    monkeypatch.setattr(audio, "MAX_RESAMPLED_SAMPLES", 20000)
    wav = tmp_path / "long.wav"
    wav.write_bytes(wav_bytes(speechlike(2.0, rate=8000), rate=8000))
    with pytest.raises(AudioError) as e:
        audio.load_for_model(wav, 16000, allow_resample=True)
    assert str(e.value) == (
        f"{wav}: 0.0 hours of audio would be 32000 samples at 16000 Hz, more "
        f"than deepbrain takes at once (20000); cut it into parts, e.g. with 'sox long.wav "
        f"part.wav trim 0 3600 : newfile : restart'")
    code, _, err = run(capsys, "activations", wav, "--model", tiny_model, "--out",
                       tmp_path / "out", "--engine", "numpy", "--resample", "-q")
    assert code == 0, err
    assert (tmp_path / "out" / "utt2num_frames").read_text() == "long 198\n"


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 48000])
def test_ordinary_rates_still_resample(rate, tmp_path, tiny_model, capsys):
    wav = tmp_path / "ok.wav"
    wav.write_bytes(wav_bytes(speechlike(0.5, rate=rate), rate=rate))
    code, _, err = run(capsys, "activations", wav, "--model", tiny_model, "--out",
                       tmp_path / "out", "--engine", "numpy", "--resample", "-q")
    assert code == 0, err
    assert (tmp_path / "out" / "utt2num_frames").read_text() == "ok 48\n"


# -- item 17: a FIFO named x.wav, and other files that are not files ------------------------

@pytest.mark.parametrize("engine", ["numpy", "auto"])
def test_a_fifo_named_like_a_wav_is_refused_at_once(tmp_path, tiny_model, engine):
    fifo = tmp_path / "x.wav"
    os.mkfifo(fifo)
    r = deepbrain("activations", fifo, "--model", tiny_model, "--out", tmp_path / "out",
                  "--engine", engine, "-q", timeout=60)
    assert r.returncode == 3
    assert r.stderr.decode() == (f"deepbrain: error: {fifo}: is a FIFO (named pipe), not a wav "
                                 f"file; deepbrain reads wav files: write the audio to a file "
                                 f"first\n")


@pytest.mark.parametrize("path,kind", [("/dev/zero", "a device"), ("folder.wav", "a folder")])
def test_other_files_that_are_not_files(tmp_path, tiny_model, capsys, path, kind):
    if path == "folder.wav":
        path = tmp_path / path
        path.mkdir()
    code, _, err = run(capsys, "activations", path, "--model", tiny_model, "--out",
                       tmp_path / "out", "--engine", "numpy", "-q")
    assert code == 3 and err == f"deepbrain: error: {path}: is {kind}, not a wav file; " \
                                f"deepbrain reads wav files: write the audio to a file first\n"


def test_a_wav_through_a_symlink_or_from_a_redirected_stdin_still_reads(tmp_path, tiny_model,
                                                                        speech_wav):
    link = tmp_path / "link.wav"
    link.symlink_to(speech_wav)
    assert audio.read_wav(link).samples.size == 16000
    with open(speech_wav, "rb") as stdin:
        r = subprocess.run([sys.executable, "-c", "from deepbrain.audio import read_wav; "
                            "print(read_wav('/dev/stdin').samples.size)"], stdin=stdin,
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(APP)))
    assert r.stdout == "16000\n", r.stderr
