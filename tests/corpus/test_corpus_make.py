"""make_corpus end to end on a few utterances: Kaldi data dirs, frame counts, determinism."""

import json
import threading

import kaldiio
import numpy as np
import pytest

from deepbrain.audio import read_wav
from deepbrain.corpus.__main__ import main
from deepbrain.corpus.make import int_vector_record, make_corpus
from deepbrain.corpus.phones import PHONES, SIL
from deepbrain.errors import Cancelled, OutputExistsError
from deepbrain.features import compute_mfcc_feats
from deepbrain.options import MfccOptions

SPLITS = ("train", "test")


def table(path) -> dict[str, str]:
    """A Kaldi ``key rest-of-line`` file as a dict."""
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


def labels_of(corpus, split) -> dict[str, np.ndarray]:
    return dict(kaldiio.load_scp(str(corpus / split / "phones.scp")))


def test_data_dirs_hold_the_kaldi_files_sorted(corpus2):
    for split in SPLITS:
        d = corpus2 / split
        for name in ("wav.scp", "utt2spk", "spk2utt", "text", "utt2num_frames", "phones.scp"):
            keys = [line.split()[0] for line in (d / name).read_text().splitlines()]
            assert keys == sorted(keys), name
        utt2spk = table(d / "utt2spk")
        spk2utt = {s: u.split() for s, u in table(d / "spk2utt").items()}
        assert {u: s for s, us in spk2utt.items() for u in us} == utt2spk
        assert all(u.startswith(s + "-") for u, s in utt2spk.items())
    assert (corpus2 / "phones.txt").read_text().splitlines()[0] == "sil 0"
    info = json.loads((corpus2 / "corpus.json").read_text())
    assert info["utterances"] == {"train": 5, "test": 1} and info["espeak_ng_version"]


def test_labels_have_exactly_the_kaldi_mfcc_frame_count(corpus2):
    opts = MfccOptions()
    for split in SPLITS:
        wavs, frames = table(corpus2 / split / "wav.scp"), table(corpus2 / split / "utt2num_frames")
        for utt, phones in labels_of(corpus2, split).items():
            audio = read_wav(wavs[utt])
            assert audio.sample_rate == 16000 and audio.as_on_disk  # 16-bit mono
            assert len(phones) == opts.num_frames(len(audio.samples)) == int(frames[utt])
            assert phones.min() >= 0 and phones.max() < len(PHONES)
    feats = compute_mfcc_feats(audio, opts)  # the numpy engine's MFCCs of the last wav
    assert feats.shape[0] == len(phones)


def test_same_seed_gives_identical_bytes_with_1_or_2_workers(corpus1, corpus2):
    wavs1, wavs2 = sorted((corpus1 / "wav").iterdir()), sorted((corpus2 / "wav").iterdir())
    assert [p.name for p in wavs1] == [p.name for p in wavs2] and len(wavs1) == 6
    for a, b in zip(wavs1, wavs2):
        assert a.read_bytes() == b.read_bytes(), a.name
    for split in SPLITS:
        for name in ("phones.ark", "text", "utt2synth", "utt2num_frames"):
            assert (corpus1 / split / name).read_bytes() == (corpus2 / split / name).read_bytes()


def test_held_out_voices_are_only_in_test(corpus2, held_out):
    train = set(table(corpus2 / "train" / "utt2spk").values())
    test = set(table(corpus2 / "test" / "utt2spk").values())
    assert not train & set(held_out) and test <= set(held_out) and test


def test_phones_ark_is_what_kaldiio_and_copy_int_vector_read(corpus2, tmp_path):
    loaded = labels_of(corpus2, "train")
    assert dict(kaldiio.load_ark(str(corpus2 / "train" / "phones.ark"))).keys() == loaded.keys()
    # byte for byte what kaldiio writes for int32 vectors (Kaldi's BasicVectorHolder format)
    kaldiio.save_ark(str(tmp_path / "k.ark"), {k: v.astype(np.int32) for k, v in loaded.items()})
    assert (tmp_path / "k.ark").read_bytes() == (corpus2 / "train" / "phones.ark").read_bytes()
    record, offset = int_vector_record("u", np.array([3, -1], dtype=np.int32))
    assert record == b"u \0B\x04\x02\0\0\0\x04\x03\0\0\0\x04\xff\xff\xff\xff" and offset == 2


def test_silence_at_the_start_and_end_is_sil(corpus2):
    opts = MfccOptions()
    for split in SPLITS:
        wavs = table(corpus2 / split / "wav.scp")
        for utt, phones in labels_of(corpus2, split).items():
            x = read_wav(wavs[utt]).samples
            assert phones[0] == SIL and phones[-1] == SIL, utt
            silent = [np.abs(x[i * 160:i * 160 + opts.window_samples]).max() <= 2
                      for i in range(len(phones))]
            lead = silent.index(False)
            tail = silent[::-1].index(False)
            assert lead >= 3 and tail >= 3, utt  # 50+ ms lead, espeak's end pause
            assert (phones[:lead] == SIL).all() and (phones[len(phones) - tail:] == SIL).all()
            assert (phones != SIL).sum() > len(phones) / 3  # and speech in between


def test_an_existing_corpus_is_not_overwritten_without_force(needs_espeak, tmp_path):
    out = tmp_path / "c"
    make_corpus(out, 2, seed=1, workers=1)
    with pytest.raises(OutputExistsError, match="--force"):
        make_corpus(out, 2, seed=1, workers=1)
    make_corpus(out, 3, seed=1, workers=1, force=True)
    assert len(list((out / "wav").iterdir())) == 3


def test_progress_and_cancel_leave_nothing_half_written(needs_espeak, tmp_path):
    seen, stop = [], threading.Event()

    def progress(p):
        seen.append((p.stage, p.done, p.total))
        stop.set()

    with pytest.raises(Cancelled):
        make_corpus(tmp_path / "c", 8, seed=2, workers=1, progress=progress, cancel=stop.is_set)
    assert seen[0] == ("synth", 1, 8) and not list(tmp_path.iterdir())


def test_cli_prints_a_summary_and_exits_with_a_code_on_errors(needs_espeak, tmp_path, capsys):
    assert main([str(tmp_path / "c"), "--utts", "2", "--seed", "3", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 utterances (1 train, 1 test)" in out and "min of audio" in out and "sil" in out
    assert main([str(tmp_path / "d"), "--utts", "2", "--held-out", "nobody"]) == 7
    assert "held-out voice(s) nobody" in capsys.readouterr().err


def test_a_corpus_is_replaced_without_a_moment_of_none(tmp_path):
    """install_corpus moves the old corpus aside before the new one comes in; a run killed
    between the two moves leaves it aside, and the next run puts it back."""
    from deepbrain.corpus.make import _prepare_out_dir, install_corpus

    out = tmp_path / "corpus [1]*"  # glob characters in the name are only characters
    out.mkdir()
    (out / "corpus.json").write_text('{"old": true}')
    new = tmp_path / ".new"
    new.mkdir()
    (new / "corpus.json").write_text('{"old": false}')
    install_corpus(new, out)
    assert (out / "corpus.json").read_text() == '{"old": false}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # the old one removed
    # killed between the moves: the old corpus aside, none in place
    aside = tmp_path / f".{out.name}.old-12345"
    out.rename(aside)
    tmp = _prepare_out_dir(out, force=True)
    assert (out / "corpus.json").read_text() == '{"old": false}' and not aside.exists()
    assert tmp.name.startswith(f".{out.name}.partial-")
    # killed after both moves: the leftover is removed, the corpus in place is kept
    aside.mkdir()
    (aside / "corpus.json").write_text('{"old": true}')
    _prepare_out_dir(out, force=True)
    assert not aside.exists() and (out / "corpus.json").read_text() == '{"old": false}'
