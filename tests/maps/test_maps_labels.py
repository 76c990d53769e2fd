"""Phone tables (position suffixes folded, silence left out) and label tables."""

import kaldiio
import numpy as np
import pytest

from deepbrain.errors import FormatError
from deepbrain.maps.labels import fit_to_frames, read_labels, read_phone_set

PHONES = "<eps> 0\nSIL 1\nSIL_B 2\nAA_B 3\nAA_E 4\nAA_I 5\nAA_S 6\nB_B 7\nB 8\n#0 9\n#1 10\n"


def test_position_suffixes_fold_and_silence_is_left_out(tmp_path):
    (tmp_path / "phones.txt").write_text(PHONES)
    ps = read_phone_set(tmp_path / "phones.txt")
    assert ps.names == ("AA", "B") and ps.excluded == ("SIL",)
    assert ps.classes(np.array([1, 3, 4, 6, 8, 7, 0, 9]), "x").tolist() == \
        [-1, 0, 0, 0, 1, 1, -1, -1]
    kept = read_phone_set(tmp_path / "phones.txt", keep_silence=True)
    assert kept.names == ("SIL", "AA", "B")


def test_an_id_outside_the_table_is_an_error(tmp_path):
    (tmp_path / "phones.txt").write_text("sil 0\naa 1\n")
    ps = read_phone_set(tmp_path / "phones.txt")
    with pytest.raises(FormatError, match="labels.ark: utterance u1: phone id 7 is not in"):
        ps.classes(np.array([0, 1, 7]), "labels.ark: utterance u1")
    (tmp_path / "gap.txt").write_text("sil 0\naa 2\n")
    with pytest.raises(FormatError, match="phone id 1 is not in"):
        read_phone_set(tmp_path / "gap.txt").classes(np.array([1]), "x")


def test_label_tables(tmp_path):
    kaldiio.save_ark(str(tmp_path / "l.ark"), {"u1": np.array([1, 2, 3], np.int32)},
                     scp=str(tmp_path / "l.scp"))
    assert read_labels(tmp_path / "l.ark")["u1"].tolist() == [1, 2, 3]
    assert read_labels(tmp_path / "l.scp")["u1"].tolist() == [1, 2, 3]
    kaldiio.save_ark(str(tmp_path / "m.ark"), {"u1": np.ones((2, 2), np.float32)})
    with pytest.raises(FormatError, match="not an integer vector"):
        read_labels(tmp_path / "m.ark")
    (tmp_path / "junk.ark").write_bytes(b"u1 \0Bxyz")
    with pytest.raises(FormatError, match="junk.ark: not a Kaldi int-vector table"):
        read_labels(tmp_path / "junk.ark")


def test_frame_count_tolerance_is_kaldis():
    c = np.arange(100)
    assert fit_to_frames(c, 97, "u", "l").size == 97
    padded = fit_to_frames(c, 103, "u", "l")
    assert padded.size == 103 and padded[-3:].tolist() == [-1, -1, -1]
    with pytest.raises(FormatError, match="utterance u has 100 labels for 94 frames"):
        fit_to_frames(c, 94, "u", "l")
