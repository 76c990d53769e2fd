"""The phone lanes' sources: CTM, per-frame ark/scp, the model's output, a transcript."""

import sys
import types

import kaldiio
import numpy as np
import pytest

from deepbrain.audio import Audio
from deepbrain.errors import DeepbrainError, FormatError
from deepbrain.phonelanes import (lane_from_file, lane_from_output, lane_from_text,
                                  aligner_unavailable)
from deepbrain.segments import PhoneSegment, write_ctm

PHONES = "sil 0\naa 1\niy 2\ns 3\n"


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "model_phones.txt"
    p.write_text(PHONES)
    return p


def test_a_ctm_gives_the_utterances_segments(tmp_path, table):
    segs = [PhoneSegment("sil", 0, 10), PhoneSegment("aa", 10, 30), PhoneSegment("s", 30, 52)]
    write_ctm(tmp_path / "phones.ctm", {"utt": segs, "other": segs[:1]})
    lane = lane_from_file(tmp_path / "phones.ctm", "utt", 50, 0.01, table)
    assert list(lane.segments) == segs and lane.source == "phones.ctm"
    # a CTM by any name is read as one
    (tmp_path / "alignment.txt").write_text((tmp_path / "phones.ctm").read_text())
    assert lane_from_file(tmp_path / "alignment.txt", "utt", 50, 0.01, table).segments == \
        lane.segments


def test_per_frame_ids_as_ark_text_ark_and_scp(tmp_path, table):
    ids = np.array([0] * 5 + [1] * 10 + [3] * 5, np.int32)
    kaldiio.save_ark(str(tmp_path / "ali.ark"), {"utt": ids}, scp=str(tmp_path / "ali.scp"))
    want = (PhoneSegment("sil", 0, 5), PhoneSegment("aa", 5, 15), PhoneSegment("s", 15, 20))
    assert lane_from_file(tmp_path / "ali.ark", "utt", 20, 0.01, table).segments == want
    assert lane_from_file(tmp_path / "ali.scp", "utt", 22, 0.01, table).segments == want
    (tmp_path / "text.ark").write_text("utt " + " ".join(map(str, ids)) + "\n")
    assert lane_from_file(tmp_path / "text.ark", "utt", 20, 0.01, table).segments == want
    # a phones.txt beside the labels wins over the model's (here: word-position phones)
    d = tmp_path / "lang"
    d.mkdir()
    (d / "phones.txt").write_text("<eps> 0\nSIL 1\nAA_B 2\nS_E 3\n")
    kaldiio.save_ark(str(d / "ali.ark"), {"utt": np.array([1, 1, 2, 3], np.int32)})
    got = lane_from_file(d / "ali.ark", "utt", 4, 0.01, table).segments
    assert [s.phone for s in got] == ["SIL", "AA", "S"]


def test_segments_past_the_end_are_cut_within_the_tolerance(tmp_path, table):
    kaldiio.save_ark(str(tmp_path / "a.ark"), {"utt": np.array([1] * 22, np.int32)})
    lane = lane_from_file(tmp_path / "a.ark", "utt", 20, 0.01, table)
    assert lane.segments[-1].end == 22            # drawn clipped by the window
    with pytest.raises(FormatError, match="up to frame 22, but the wav has 10 frames"):
        lane_from_file(tmp_path / "a.ark", "utt", 10, 0.01, table)


@pytest.mark.parametrize("case,message", [
    ("missing-file", "no such phones file"),
    ("missing-utt", "has no utterance 'utt'.*it holds 1: other"),
    ("pipe", "is a command or stdin"),
    ("bad-id", "phone id 9 is outside the phone table"),
    ("truncated", "cannot be read|not a Kaldi int-vector table"),
    ("nan-ctm", "must be finite"),
    ("overlap", "segments overlap"),
    ("utf8-ctm", "not a Kaldi int-vector table"),
    ("floats", "not an integer vector"),
    ("no-table", "need a phones.txt"),
    ("empty", "no segments|no utterances"),
])
def test_bad_phone_files_are_one_clear_error(tmp_path, table, case, message):
    path = tmp_path / "p.ark"
    model_table = table
    if case == "missing-file":
        path = tmp_path / "nowhere.ctm"
    elif case == "missing-utt":
        kaldiio.save_ark(str(path), {"other": np.array([1, 2], np.int32)})
    elif case == "pipe":
        path = tmp_path / "p.scp"
        path.write_text("utt cat /etc/passwd |\n")
    elif case == "bad-id":
        kaldiio.save_ark(str(path), {"utt": np.array([1, 9], np.int32)})
    elif case == "truncated":
        kaldiio.save_ark(str(path), {"utt": np.arange(40, dtype=np.int32) % 4},
                         scp=str(tmp_path / "p.scp"))
        path.write_bytes(path.read_bytes()[:-30])
        path = tmp_path / "p.scp"
    elif case == "nan-ctm":
        path = tmp_path / "p.ctm"
        path.write_text("utt 1 nan 0.1 aa\n")
    elif case == "overlap":
        path = tmp_path / "p.ctm"
        path.write_text("utt 1 0.00 0.30 aa\nutt 1 0.10 0.30 s\n")
    elif case == "utf8-ctm":
        path = tmp_path / "p.txt"
        path.write_bytes(b"utt 1 0.0 0.1 \xff\xfe\n")
    elif case == "floats":
        kaldiio.save_ark(str(path), {"utt": np.ones((3, 2), np.float32)},
                         scp=str(tmp_path / "p.scp"))
        path = tmp_path / "p.scp"
    elif case == "no-table":
        kaldiio.save_ark(str(path), {"utt": np.array([1, 2], np.int32)})
        model_table = None
    elif case == "empty":
        path = tmp_path / "p.ctm"
        path.write_text(";; nothing\n")
    with pytest.raises(FormatError, match=message) as e:
        lane_from_file(path, "utt", 30, 0.01, model_table)
    assert "\n" not in str(e.value)


def test_odd_names_pass_through(tmp_path, table):
    d = tmp_path / "we\u0301ird -name's dir"
    d.mkdir()
    bad = d / b"lab\xffels.ctm".decode("utf-8", "surrogateescape")
    bad.write_text("utt 1 0.0 0.2 aa\n")
    assert lane_from_file(bad, "utt", 20, 0.01, table).segments[0] == PhoneSegment("aa", 0, 20)


def test_the_model_hears_its_top_output_phone():
    out = np.zeros((6, 4))
    out[:2, 0] = out[2:5, 1] = out[5, 3] = 1
    lane = lane_from_output(out, ("sil", "aa", "iy", "s"))
    assert lane.segments == (PhoneSegment("sil", 0, 2), PhoneSegment("aa", 2, 5),
                             PhoneSegment("s", 5, 6))
    assert lane_from_output(out, ("sil", "aa")) is None        # outputs are not the phones
    assert lane_from_output(None, ("a",)) is None


def test_a_transcript_without_the_aligner_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepbrain.align", None)   # as if not installed
    reason = aligner_unavailable()
    assert reason and "pip install 'deepbrain[align]'" in reason
    with pytest.raises(DeepbrainError, match=r"--text: .*needs the aligner"):
        lane_from_text(Audio(np.zeros(16000, np.float32), 16000, "x"), "hello", "x", 98)


def test_a_transcript_is_aligned_by_the_aligner(monkeypatch):
    calls = []
    fake = types.ModuleType("deepbrain.align")
    fake.why_unavailable = lambda: None

    def align_audio(audio, text, utt_id=""):
        calls.append((audio.sample_rate, text, utt_id))
        return [PhoneSegment("sil", 0, 10), PhoneSegment("f", 10, 20),
                PhoneSegment("r", 20, 200)]
    fake.align_audio = align_audio
    monkeypatch.setitem(sys.modules, "deepbrain.align", fake)
    lane = lane_from_text(Audio(np.zeros(16000, np.float32), 16000, "x"), "  front\n centre ",
                          "u1", 98)
    assert calls == [(16000, "front centre", "u1")]
    assert [s.phone for s in lane.segments] == ["sil", "f", "r"]
    assert lane.source == "aligned: \u201cfront centre\u201d"
    with pytest.raises(DeepbrainError, match="transcript is empty"):
        lane_from_text(None, " \n\t", "u1", 98)
    with pytest.raises(DeepbrainError, match="at most 2000"):
        lane_from_text(None, "a" * 5000, "u1", 98)
    fake.why_unavailable = lambda: "no acoustic model found"
    with pytest.raises(DeepbrainError, match="cannot run: no acoustic model found"):
        lane_from_text(None, "front", "u1", 98)
