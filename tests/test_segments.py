import numpy as np
import pytest

from deepbrain.errors import FormatError
from deepbrain.segments import (PhoneSegment, frames_from_segments, phone_at, read_ctm,
                                segments_from_frames, write_ctm)

NAMES = ("sil", "aa", "b")


def test_frames_to_segments_and_back():
    ids = np.array([0, 0, 1, 1, 1, 2, 0])
    segs = segments_from_frames(ids, NAMES)
    assert segs == [PhoneSegment("sil", 0, 2), PhoneSegment("aa", 2, 5),
                    PhoneSegment("b", 5, 6), PhoneSegment("sil", 6, 7)]
    back = frames_from_segments(segs, {n: i for i, n in enumerate(NAMES)}, 9)
    assert back.tolist() == ids.tolist() + [-1, -1]


def test_ctm_round_trip_as_ali_to_phones_writes_it(tmp_path):
    segs = {"u2": [PhoneSegment("sil", 0, 12), PhoneSegment("aa", 12, 30)],
            "u1": [PhoneSegment("b", 3, 4)]}
    write_ctm(tmp_path / "p.ctm", segs)
    text = (tmp_path / "p.ctm").read_text()
    assert text.splitlines()[0] == "u1 1 0.030 0.010 b"
    assert read_ctm(tmp_path / "p.ctm") == segs


def test_phone_at():
    segs = [PhoneSegment("sil", 0, 2), PhoneSegment("aa", 4, 6)]
    assert phone_at(segs, 1).phone == "sil"
    assert phone_at(segs, 3) is None
    assert phone_at(segs, 5).phone == "aa"
    assert phone_at(segs, 6) is None


@pytest.mark.parametrize("body", ["u 1 0.0 x aa\n", "u 1 nan 0.1 aa\n", "u 1 0 0 aa\n",
                                  "u 1 -1 0.1 aa\n", "u 1 0 inf aa\n", "u 1 0\n", "",
                                  "u 1 1e30 1 aa\n"])
def test_bad_ctm_is_one_clear_error(tmp_path, body):
    p = tmp_path / "bad.ctm"
    p.write_text(body)
    with pytest.raises(FormatError, match="bad.ctm"):
        read_ctm(p)


def test_ctm_that_is_not_text(tmp_path):
    p = tmp_path / "bin.ctm"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FormatError, match="bin.ctm"):
        read_ctm(p)


def test_ids_outside_the_table():
    with pytest.raises(FormatError, match="outside"):
        segments_from_frames(np.array([0, 7]), NAMES)
