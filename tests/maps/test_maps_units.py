"""Reading build-map's unit tables back (units.csv, summary.json, activities), and the
clustering of the PSI picture."""

import json

import numpy as np
import pytest

from deepbrain.errors import FormatError
from deepbrain.maps.plot import psi_order
from deepbrain.maps.units import HEADER, read_unit_table

PHONES = ["aa", "iy", "s"]


def write_table(d, preferred=("aa", "iy", "s", "s"), psi=("2", "", "1", "0"),
                entropy=("1.5",) * 4, phones=PHONES, patterns=True):
    d.mkdir(parents=True, exist_ok=True)
    rows = [HEADER] + [f"{u + 1},0.1,0.2,{p},{s},{e}"
                       for u, (p, s, e) in enumerate(zip(preferred, psi, entropy))]
    (d / "units.csv").write_text("\n".join(rows) + "\n")
    (d / "summary.json").write_text(json.dumps({"phones": phones}))
    if patterns:
        m = np.eye(len(preferred), len(phones))
        m[1, 2] = np.nan
        np.savetxt(d / "activities", m)
    return d


def test_a_table_reads_back(tmp_path):
    t = read_unit_table(write_table(tmp_path / "lda1"), 1, 4)
    assert t.phones == tuple(PHONES) and t.preferred.tolist() == [0, 1, 2, 2]
    assert t.psi.tolist() == [2, -1, 1, 0] and np.allclose(t.entropy, 1.5)
    assert np.isnan(t.patterns[1, 2]) and t.patterns.shape == (4, 3)
    assert t.units_preferring("S").tolist() == [2, 3]          # names compared folded
    assert t.units_preferring("s_B").tolist() == [2, 3]
    assert t.units_preferring("zh").size == 0 and t.phone_index("IY1") == 1


def test_no_units_csv_is_no_table(tmp_path):
    assert read_unit_table(tmp_path, 1, 4) is None


@pytest.mark.parametrize("change,message", [
    ("count", "3 units for a map of 4"),
    ("header", "the first line must be"),
    ("phone", "preferred phone 'zh' is not among"),
    ("psi", "psi and entropy_bits must be numbers"),
    ("nan", "entropy_bits finite"),
    ("order", "expected 2 .units are numbered"),
    ("utf8", "cannot be read as UTF-8"),
    ("fields", "has 4 fields"),
    ("patterns", "expected 4 units x 3 phones"),
    ("summary", "'phones' must be a list"),
    ("summary-json", "expected JSON with a 'phones' list"),
])
def test_bad_tables_are_one_clear_error(tmp_path, change, message):
    d = write_table(tmp_path / "t")
    csv = d / "units.csv"
    lines = csv.read_text().splitlines()
    if change == "count":
        csv.write_text("\n".join(lines[:-1]) + "\n")
    elif change == "header":
        csv.write_text("\n".join(["unit,x,y"] + lines[1:]))
    elif change == "phone":
        csv.write_text(csv.read_text().replace(",iy,", ",zh,"))
    elif change == "psi":
        csv.write_text(csv.read_text().replace("1,0.1,0.2,aa,2", "1,0.1,0.2,aa,two"))
    elif change == "nan":
        csv.write_text(csv.read_text().replace(",1.5\n", ",nan\n", 1))
    elif change == "order":
        csv.write_text(csv.read_text().replace("\n2,", "\n7,"))
    elif change == "utf8":
        csv.write_bytes(csv.read_bytes().replace(b"iy", b"\xff\xfe"))
    elif change == "fields":
        csv.write_text(csv.read_text().replace("2,0.1,0.2,iy,,1.5", "2,iy,,1.5"))
    elif change == "patterns":
        np.savetxt(d / "activities", np.zeros((4, 2)))
    elif change == "summary":
        (d / "summary.json").write_text(json.dumps({"phones": ["aa", "aa", "s"]}))
    elif change == "summary-json":
        (d / "summary.json").write_bytes(b"\x00{not json")
    with pytest.raises(FormatError, match=message) as e:
        read_unit_table(d, 1, 4)
    assert "\n" not in str(e.value) and str(d) in str(e.value)


def test_psi_clustering_puts_alike_units_and_phones_together():
    rng = np.random.default_rng(0)
    psi = rng.integers(0, 2, (60, 6))
    psi[:30, :3] += 20                     # units 0..29 answer phones 0..2
    psi[30:, 3:] += 20
    perm = rng.permutation(60)
    rows, cols, _, _ = psi_order(psi[perm])
    groups = (perm[rows] < 30).astype(int)
    assert np.count_nonzero(np.diff(groups)) == 1          # two blocks, one boundary
    assert np.count_nonzero(np.diff((cols < 3).astype(int))) == 1
    one = psi_order(np.array([[3, -1, 2]]))
    assert one[0].tolist() == [0] and one[2] is None and sorted(one[1].tolist()) == [0, 1, 2]
