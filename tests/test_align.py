"""deepbrain.align and ``deepbrain align``: forced alignment with pocketsphinx on a synthetic
clip (always, espeak-ng's program makes it) and on a real recording (alsa-utils' voice, when
installed), and clean one-line errors for hostile input."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from deepbrain import align
from deepbrain.align import AlignError, align_audio, read_transcripts, words_of
from deepbrain.audio import Audio, read_wav
from deepbrain.cli import main
from deepbrain.corpus.phones import PHONES
from deepbrain.errors import FormatError
from deepbrain.segments import read_ctm
from support import speechlike, wav_bytes

ALSA = Path("/usr/share/sounds/alsa")
SENTENCE = "the cat sat on the mat"
# CMUdict's pronunciation, folded to TIMIT-39 (DH AH0 K AE1 T S AE1 T AA1 N DH AH0 M AE1 T)
EXPECTED = "dh ah k ae t s ae t aa n dh ah m ae t".split()


@pytest.fixture(scope="module", autouse=True)
def needs_pocketsphinx():
    reason = align.why_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def synthetic_wav(tmp_path_factory) -> Path:
    """``SENTENCE`` spoken by espeak-ng (its program, 22050 Hz) with silence around it."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no synthetic clip")
    path = tmp_path_factory.mktemp("synth") / "cat.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), SENTENCE], check=True,
                   capture_output=True)
    return path


def _speech(segments):
    return [s.phone for s in segments if s.phone != "sil"]


def _check_cover(segments, n_frames):
    assert segments[0].start == 0 and segments[-1].end == n_frames
    for a, b in zip(segments, segments[1:]):
        assert a.end == b.start and a.num_frames > 0
        assert not (a.phone == b.phone == "sil")
    assert {s.phone for s in segments} <= set(PHONES)


def test_synthetic_clip_gets_the_dictionarys_phones_in_order(synthetic_wav):
    audio = read_wav(synthetic_wav)
    segs = align_audio(audio, "The cat sat on the mat.", "cat")
    n = align.num_frames(audio.samples.size, audio.sample_rate)
    assert n == int((audio.duration * 1000 - 25) // 10) + 1
    _check_cover(segs, n)
    assert _speech(segs) == EXPECTED
    speech = [s for s in segs if s.phone != "sil"]
    assert speech[-1].end - speech[0].start > 0.5 * n  # the words fill most of the clip
    # deterministic: the same again after another utterance went through the decoder
    real = ALSA / "Front_Center.wav"
    if real.is_file():
        align_audio(read_wav(real), "front center")
    assert align_audio(audio, "The cat sat on the mat.", "cat") == segs


def test_real_recording_is_aligned(tmp_path):
    wav = ALSA / "Front_Center.wav"
    if not wav.is_file():
        pytest.skip("alsa-utils is not installed (apt-get install alsa-utils): no real clip")
    audio = read_wav(wav)  # 48 kHz: resampled for the aligner, frames counted on the file
    segs = align_audio(audio, "front center")
    _check_cover(segs, align.num_frames(audio.samples.size, audio.sample_rate))
    assert _speech(segs) == "f r ah n t s eh n t er".split()
    # the two words with a pause between them, as the recording has
    assert any(s.phone == "sil" and s.num_frames >= 10 for s in segs[1:-1])


def test_words_are_normalised_as_the_dictionary_spells_them():
    assert words_of("Don't stop-watch!  THE end...") == ["don't", "stop", "watch", "the",
                                                         "end"]
    assert words_of("  ,;!  ") == []


def test_bad_text_and_audio_give_one_line_errors_naming_the_utterance(synthetic_wav):
    audio = read_wav(synthetic_wav)
    cases = {
        "": "no words",
        " ?! ": "no words",
        "the cat xyzzyq sat blorftle": "xyzzyq",
        " ".join(["cat"] * 5000): "5000 words",
    }
    for text, needle in cases.items():
        with pytest.raises(AlignError) as e:
            align_audio(audio, text, "utt-7")
        msg = str(e.value)
        assert "utt-7" in msg and needle in msg and "\n" not in msg, msg
    with pytest.raises(AlignError, match="blorftle"):
        align_audio(audio, "xyzzyq blorftle", "u")
    nan = Audio(np.full(16000, np.nan, np.float32), 16000, "nan.wav", False)
    with pytest.raises(AlignError, match="nan.wav: .*NaN"):
        align_audio(nan, "the cat")
    with pytest.raises(AlignError, match="too short"):
        align_audio(Audio(np.zeros(800, np.float32), 16000, "short.wav"), "the cat")
    with pytest.raises(AlignError, match="no samples"):
        align_audio(Audio(np.zeros(0, np.float32), 16000, "empty.wav"), "the cat")


def test_text_that_is_not_what_is_said_fails_cleanly():
    noise = Audio(np.asarray(speechlike(1.0), np.float32), 16000, "noise.wav")
    long_text = "the quick brown fox jumps over the lazy dog"
    try:
        segs = align_audio(noise, long_text)
    except AlignError as e:
        assert "noise.wav" in str(e) and "could not be aligned" in str(e)
    else:  # pocketsphinx may force it through; then it must still cover the clip
        _check_cover(segs, align.num_frames(16000, 16000))


def test_transcripts_file(tmp_path):
    t = tmp_path / "text"
    t.write_text("a the cat\n\nb  sat on the mat \n")
    assert read_transcripts(t) == {"a": "the cat", "b": "sat on the mat"}
    t.write_bytes(b"a the cat\nb \xff\xfe mat\n")
    with pytest.raises(FormatError, match="line 2 is not UTF-8"):
        read_transcripts(t)
    t.write_text("a x\na y\n")
    with pytest.raises(FormatError, match="appears twice"):
        read_transcripts(t)
    t.write_text("\n\n")
    with pytest.raises(FormatError, match="no transcripts"):
        read_transcripts(t)
    with pytest.raises(FormatError, match="no such transcripts file"):
        read_transcripts(tmp_path / "nope")


# -- the command -----------------------------------------------------------------------------

def test_align_command_writes_ctm_and_per_frame_ids_that_agree(synthetic_wav, tmp_path,
                                                               capsys):
    odd = tmp_path / "we'ird $(touch pwned) name.wav"
    shutil.copyfile(synthetic_wav, odd)
    out = tmp_path / "ali"
    assert main(["align", str(synthetic_wav), str(odd), "--text", SENTENCE,
                 "--out", str(out)]) == 0
    assert not (Path.cwd() / "pwned").exists()
    assert "2 utterance(s) aligned" in capsys.readouterr().out
    ctm = read_ctm(out / "phones.ctm")
    ids = dict(kaldiio.load_scp(str(out / "phones.scp")))
    assert sorted(ctm) == sorted(ids) == ["cat", "we'ird_$(touch_pwned)_name"]
    table = dict(line.split() for line in (out / "phones.txt").read_text().splitlines())
    names = {int(v): k for k, v in table.items()}
    for utt, segs in ctm.items():
        frames = [names[int(i)] for i in ids[utt]]
        assert frames == [s.phone for s in segs for _ in range(s.num_frames)]
        assert _speech(segs) == EXPECTED
    # and build-map's reader takes them
    from deepbrain.maps.labels import read_labels, read_phone_set
    assert set(read_labels(out / "phones.ark")) == set(ids)
    assert "aa" in read_phone_set(out / "phones.txt").names
    # an existing result is not replaced without --force
    assert main(["align", str(synthetic_wav), "--text", SENTENCE, "--out", str(out)]) == 5
    assert "--force" in capsys.readouterr().err


def test_align_command_names_each_failure_and_writes_the_rest(synthetic_wav, tmp_path,
                                                              capsys):
    bad = {
        "missing.wav": None,
        "notawav.wav": b"hello, I am text",
        "truncated.wav": wav_bytes(np.zeros(0, np.int16))[:44],
        "nan.wav": wav_bytes(np.full(8000, np.nan), fmt_tag=3, bits=32),
    }
    paths = [str(synthetic_wav)]
    for name, data in bad.items():
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        paths.append(str(p))
    weird = os.fsdecode(b"bad-\xff-name.wav")
    (tmp_path / weird).write_bytes(synthetic_wav.read_bytes())
    paths.append(str(tmp_path / weird))
    transcripts = tmp_path / "text"
    transcripts.write_text(f"cat {SENTENCE}\nmissing a\nnotawav a\ntruncated a\nnan a\n")
    out = tmp_path / "ali"
    code = main(["align", *paths, "--transcripts", str(transcripts), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == AlignError.exit_code
    lines = err.strip().splitlines()
    assert len(lines) == 5, err
    for needle in ("missing.wav: no such file", "notawav.wav: not a RIFF",
                   "truncated.wav", "nan.wav: float samples include NaN",
                   "no transcript for utterance bad-\\xff-name"):  # ids escape odd bytes
        assert any(needle in line for line in lines), needle
    assert list(read_ctm(out / "phones.ctm")) == ["cat"]


def test_align_command_refuses_bad_arguments(synthetic_wav, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["align", str(synthetic_wav), "--out", out]) == 1
    assert "--text" in capsys.readouterr().err
    t = tmp_path / "text"
    t.write_bytes(b"cat \xc3\x28 mat\n")
    assert main(["align", str(synthetic_wav), "--transcripts", str(t), "--out", out]) == 4
    err = capsys.readouterr().err
    assert "not UTF-8" in err and len(err.strip().splitlines()) == 1
    t.write_text("other the cat\n")
    assert main(["align", str(synthetic_wav), "--transcripts", str(t), "--out", out]) == 10
    err = capsys.readouterr().err
    assert "no transcript for utterance cat" in err and "nothing written" in err
    assert not Path(out).exists()
    assert main(["align", str(synthetic_wav), "--text", "cat xyzzyq", "--out", out]) == 10
    assert "xyzzyq" in capsys.readouterr().err


def test_missing_pocketsphinx_is_named_with_the_fix(monkeypatch, synthetic_wav, tmp_path,
                                                   capsys):
    import builtins

    real_import = builtins.__import__

    def no_pocketsphinx(name, *args, **kwargs):
        if name == "pocketsphinx" or name.startswith("pocketsphinx."):
            raise ImportError("No module named 'pocketsphinx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pocketsphinx)
    assert "pip install 'deepbrain[align]'" in align.why_unavailable()
    assert main(["align", str(synthetic_wav), "--text", "a", "--out",
                 str(tmp_path / "o")]) == 10
    assert "pip install 'deepbrain[align]'" in capsys.readouterr().err



def test_an_alignment_does_not_depend_on_what_was_aligned_before(synthetic_wav):
    """pocketsphinx's front end keeps a noise estimate and a live CMN from one utterance to
    the next: without starting it afresh, the clean clip after a noisy one (and real clips)
    aligned otherwise than alone, and the noisy one after the clean one failed."""
    from deepbrain.audio import Audio

    audio = read_wav(synthetic_wav)
    alone = align_audio(audio, "The cat sat on the mat.")
    noise = np.random.default_rng(0).standard_normal(audio.samples.size) * 3000
    noisy = Audio((audio.samples + noise).astype(np.float32), audio.sample_rate, "noisy")
    assert align_audio(noisy, "The cat sat on the mat.")
    for name in ("Front_Left", "Rear_Right", "Side_Left"):
        if (ALSA / f"{name}.wav").is_file():
            align_audio(read_wav(ALSA / f"{name}.wav"), name.replace("_", " "))
    assert align_audio(audio, "The cat sat on the mat.") == alone


def test_the_phone_loop_hears_a_clear_clip_and_covers_every_frame(synthetic_wav):
    audio = read_wav(synthetic_wav)
    heard = align.recognise_phones(audio, "cat")
    n = align.num_frames(audio.samples.size, audio.sample_rate)
    _check_cover(heard, n)
    aligned = align_audio(audio, SENTENCE, "cat")
    frames = lambda segs: [s.phone for s in segs for _ in range(s.num_frames)]  # noqa: E731
    agree = np.mean([a == b for a, b in zip(frames(heard), frames(aligned))])
    assert 0.4 < agree < 1.0   # a yardstick that hears (espeak-ng's cat: 57 %), not the alignment
    assert align.recognise_phones(audio, "cat") == heard   # dithered with a fixed seed


def test_the_phone_loop_hears_a_real_voice():
    wav = ALSA / "Front_Center.wav"
    if not wav.is_file():
        pytest.skip("alsa-utils is not installed (apt-get install alsa-utils): no real clip")
    heard = [s.phone for s in align.recognise_phones(read_wav(wav)) if s.phone != "sil"]
    assert {"n", "t", "s", "eh", "er"} <= set(heard)   # "(f)ront center"


@pytest.mark.parametrize("samples, match", [
    (np.zeros(0), "no samples"), (np.full(16000, np.nan), "NaN"),
    (np.zeros(800), "too short"), (np.zeros((2, 16000)), "no samples")])
def test_the_phone_loop_refuses_unusable_audio(samples, match):
    with pytest.raises(AlignError, match=f"odd.wav: .*{match}"):
        align.recognise_phones(Audio(samples, 16000, "odd.wav", as_on_disk=False))


def test_the_phone_loop_without_pocketsphinx_names_the_fix(monkeypatch, synthetic_wav):
    monkeypatch.setattr(align, "_LOOP", None)
    monkeypatch.setattr(align, "why_unavailable", lambda: "pocketsphinx is not installed: "
                                                          + align.INSTALL)
    with pytest.raises(AlignError, match=r"not installed: pip install 'deepbrain\[align\]'"):
        align.recognise_phones(read_wav(synthetic_wav))


def test_real_speech_scores_the_phone_loop_on_a_labelled_dir(synthetic_wav, tmp_path):
    """scripts/real_speech.py's yardstick: speech and silence shares of the aligned frames
    that the phone loop names, read from a data dir as ``deepbrain align`` writes it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "real_speech", Path(__file__).resolve().parents[1] / "scripts" / "real_speech.py")
    real_speech = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real_speech)
    assert main(["align", str(synthetic_wav), "--text", SENTENCE, "--out", str(tmp_path)]) == 0
    (tmp_path / "wav.scp").write_text(f"cat {synthetic_wav}\n")
    got = real_speech.reference(tmp_path)   # evaluate's Scores
    assert 0.3 < got.speech[1] < 1.0 and 0.5 < got.silence_frames[1] <= 1.0
    audio = read_wav(synthetic_wav)
    assert got.frames == align.num_frames(audio.samples.size, audio.sample_rate)
