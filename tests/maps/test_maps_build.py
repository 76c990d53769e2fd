"""build-map end to end on a small corpus (numpy engine), its files, and its bad input."""

import json
import shutil

import kaldiio
import numpy as np
import pytest

from deepbrain.cli import main
from deepbrain.layermap import read_layer_map
from deepbrain.maps.units import read_unit_table
from deepbrain.model import load_model
from deepbrain.options import MfccOptions
from support import speechlike, wav_bytes, write_tiny_model

PHONES = "sil 0\naa 1\niy 2\ns 3\nm 4\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """6 synthetic utterances with runs of phones 0..4 as labels, and a tiny model."""
    d = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    (d / "data").mkdir()
    scp, labels = [], {}
    for i in range(6):
        x = speechlike(1.2, seed=i)
        wav = d / "data" / f"u{i}.wav"
        wav.write_bytes(wav_bytes(x))
        scp.append(f"u{i} {wav}\n")
        n = MfccOptions().num_frames(x.size)
        runs = np.repeat(rng.integers(0, 5, n // 8 + 1), 8)[:n]
        labels[f"u{i}"] = runs.astype(np.int32)
    (d / "data" / "wav.scp").write_text("".join(scp))
    kaldiio.save_ark(str(d / "labels.ark"), labels)
    (d / "phones.txt").write_text(PHONES)
    write_tiny_model(d / "model")
    return d


def build(corpus, out, *extra, capsys=None):
    return main(["build-map", "--model", str(corpus / "model"), "--data",
                 str(corpus / "data"), "--labels", str(corpus / "labels.ark"), "--phones",
                 str(corpus / "phones.txt"), "--out", str(out), "--perplexity", "5",
                 "--engine", "numpy", *map(str, extra)])


def test_maps_are_built_in_the_seeds_form(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    assert build(corpus, out, "--plot") == 0
    stdout = capsys.readouterr().out
    assert "layer 1: 32 units, mean PSI" in stdout and "layer 2: 24 units" in stdout
    for k, units in ((1, 32), (2, 24)):
        d = out / "lda" / str(k)
        m = read_layer_map(d, k, units)
        idx = np.loadtxt(d / "indices", dtype=int)
        assert idx.min() >= 1 and idx.max() <= units            # 1-based on disk
        assert set(np.unique(m.triangles)) == set(range(units))  # every unit in a triangle
        assert all(line.startswith(" ") and len(line.split()) == 2
                   for line in (d / "vertices").read_text().splitlines())
        acts = np.loadtxt(d / "activities")
        assert acts.shape == (units, 4) and acts.min() == 0 and acts.max() == 1  # sil left out
        s = json.loads((d / "summary.json").read_text())
        assert s["phones"] == ["aa", "iy", "s", "m"] and 0 <= s["neighbour_keeping"] <= 1
        assert 0 <= s["selective_share"] <= 1 and s["mean_psi"] <= 3
        rows = (d / "units.csv").read_text().splitlines()
        assert rows[0] == "unit,x,y,preferred,psi,entropy_bits" and len(rows) == units + 1
        regions = json.loads((d / "regions.json").read_text())
        assert sum(len(r["units"]) for r in regions.values()) == units
        assert (d / "map.png").read_bytes()[:4] == b"\x89PNG"
        assert (d / "psi.png").read_bytes()[:4] == b"\x89PNG"
        table = read_unit_table(d, k, units)      # what the window reads back
        assert table.phones == ("aa", "iy", "s", "m") and table.num_units == units
        assert table.patterns.shape == (units, 4)
        assert np.array_equal(table.preferred, np.nanargmax(table.patterns, axis=1))
    assert not list(out.glob(".lda.partial*"))


def test_same_seed_same_map_and_parallel_jobs_give_the_same_patterns(corpus, tmp_path):
    assert build(corpus, tmp_path / "a", "--layers", "1") == 0
    assert build(corpus, tmp_path / "b", "--layers", "1") == 0
    assert build(corpus, tmp_path / "c", "--layers", "1", "--nj", "2") == 0
    a, b, c = (tmp_path / x / "lda" / "1" for x in "abc")
    assert (a / "vertices").read_bytes() == (b / "vertices").read_bytes()
    assert (a / "indices").read_bytes() == (b / "indices").read_bytes()
    assert np.allclose(np.loadtxt(a / "activities"), np.loadtxt(c / "activities"), atol=1e-7)


def test_maps_written_into_the_model_dir_load_with_it(corpus, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(corpus / "model", model)
    assert main(["build-map", "--model", str(model), "--data", str(corpus / "data"),
                 "--labels", str(corpus / "labels.ark"), "--phones", str(corpus / "phones.txt"),
                 "--out", str(model), "--perplexity", "5", "--engine", "numpy", "-q"]) == 0
    assert sorted(load_model(model).maps) == [1, 2]
    assert build(corpus, model) == 5  # exists: needs --force
    assert build(corpus, model, "--force") == 0


def test_phone_with_no_frames_is_marked(corpus, tmp_path):
    (tmp_path / "phones.txt").write_text(PHONES + "zh 5\n")
    assert main(["build-map", "--model", str(corpus / "model"), "--data",
                 str(corpus / "data"), "--labels", str(corpus / "labels.ark"), "--phones",
                 str(tmp_path / "phones.txt"), "--out", str(tmp_path / "o"), "--perplexity",
                 "5", "--engine", "numpy", "--layers", "1"]) == 0
    s = json.loads((tmp_path / "o" / "lda" / "1" / "summary.json").read_text())
    assert s["phones_without_frames"] == ["zh"]
    assert "nan" in (tmp_path / "o" / "lda" / "1" / "activities").read_text()


@pytest.mark.parametrize("change,code,message", [
    ("other-utts", 4, "no labels for 6 of 6 utterances"),
    ("bad-id", 4, "phone id 9 is not in"),
    ("frames", 4, "labels for .* frames .more than 5 apart"),
    ("perplexity", 1, "too few for t-SNE with perplexity 30"),
])
def test_bad_input(corpus, tmp_path, capsys, change, code, message):
    labels = {k: v for k, v in kaldiio.load_ark(str(corpus / "labels.ark"))}
    extra = []
    if change == "other-utts":
        labels = {f"x{k}": v for k, v in labels.items()}
    elif change == "bad-id":
        labels["u3"] = labels["u3"].copy()
        labels["u3"][5] = 9
    elif change == "frames":
        labels["u2"] = labels["u2"][:-20]
    kaldiio.save_ark(str(tmp_path / "l.ark"), labels)
    args = ["build-map", "--model", str(corpus / "model"), "--data", str(corpus / "data"),
            "--labels", str(tmp_path / "l.ark"), "--phones", str(corpus / "phones.txt"),
            "--out", str(tmp_path / "o"), "--engine", "numpy"]
    if change != "perplexity":
        args += ["--perplexity", "5"]
    assert main(args + extra) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "o" / "lda").exists()


def test_seed_activities_give_a_valid_map(seed_model, tmp_path, capsys):
    activities = seed_model.parent / "activities"
    assert main(["build-map", "--patterns", str(activities), "--out", str(tmp_path),
                 "--seed", "0", "--plot"]) == 0
    assert "neighbour keeping" in capsys.readouterr().out
    m = read_layer_map(tmp_path / "lda" / "1", 1, 2048)
    assert (tmp_path / "lda" / "1" / "map.png").is_file()
    assert not (tmp_path / "lda" / "1" / "psi.png").exists()  # no frames, no PSI
    assert set(np.unique(m.triangles)) == set(range(2048))
    s = json.loads((tmp_path / "lda" / "1" / "summary.json").read_text())
    assert s["neighbour_keeping"] > 0.3  # measured 0.389; the seed's own map keeps 0.13
    assert s["tsne_iterations"] == 500


def test_500_tsne_iterations_keep_neighbours_as_well_as_1000(seed_model, tmp_path):
    """The default of 500 t-SNE steps (half scikit-learn's) on the seed's 2048 units."""
    activities = str(seed_model.parent / "activities")
    keeping = {}
    for n in (500, 1000):
        assert main(["build-map", "--patterns", activities, "--out", str(tmp_path / str(n)),
                     "--tsne-iterations", str(n), "--seed", "0"]) == 0
        s = json.loads((tmp_path / str(n) / "lda" / "1" / "summary.json").read_text())
        assert s["tsne_iterations"] == n
        keeping[n] = s["neighbour_keeping"]
    assert keeping[500] >= keeping[1000] - 0.02, keeping


UNITS = {1: 40, 2: 36, 3: 32}


def small_stats(seed=0):
    from deepbrain.maps.stats import CorpusStats

    rng = np.random.default_rng(seed)
    stats = CorpusStats(5, UNITS, reservoir=30)
    for _ in range(20):
        labels = rng.integers(-1, 5, 60)
        x = rng.standard_normal((60, 40)) + labels[:, None] * rng.standard_normal(40)
        acts = (1 / (1 + np.exp(-x))).astype(np.float32)
        stats.add({1: acts, 2: acts[:, :36] ** 2, 3: np.minimum(1, acts[:, 8:] * 1.5)}, labels)
    return stats


def test_the_map_part_gives_the_same_files_with_parallel_jobs(tmp_path):
    """One layer per process (nj 3) or all in this one (nj 1): the same bytes in every file,
    progress in layer order."""
    from deepbrain.maps.build import MapOptions, MapWriter, maps_from_stats

    stats, names = small_stats(), ("aa", "iy", "s", "m", "n")
    runs = {}
    for nj in (1, 3):
        seen = []
        runs[nj] = maps_from_stats(stats, names, MapWriter(tmp_path / str(nj), (1, 2, 3), False, UNITS),
                                   (1, 2, 3), MapOptions(perplexity=5, plot=nj == 3), nj,
                                   progress=seen.append)
        assert [(p.stage, p.done, p.total) for p in seen] == [("map", i, 3) for i in (1, 2, 3)]
    assert runs[1] == runs[3]
    files = sorted(p.relative_to(tmp_path / "1") for p in (tmp_path / "1").rglob("*")
                   if p.is_file())
    assert len(files) == 18 and (tmp_path / "3" / "lda" / "2" / "map.png").is_file()
    for f in files:
        assert (tmp_path / "1" / f).read_bytes() == (tmp_path / "3" / f).read_bytes(), f


def test_an_error_in_a_map_worker_is_the_users_error(tmp_path):
    from deepbrain.errors import DeepbrainError
    from deepbrain.maps.build import MapOptions, MapWriter, maps_from_stats

    with pytest.raises(DeepbrainError, match="too few for t-SNE with perplexity 30"):
        maps_from_stats(small_stats(), ("aa", "iy", "s", "m", "n"),
                        MapWriter(tmp_path, (1, 2), False, UNITS), (1, 2), MapOptions(),
                        nj=2)
    assert not list(tmp_path.iterdir())
