"""deepbrain.pitch against Kaldi: golden arrays made with real Kaldi (tests/data/pitch, see
make_golden.py) everywhere, and real Kaldi binaries where KALDI_ROOT is set (``kaldi``)."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from deepbrain import kaldi_blas as blas
from deepbrain import pitch as P
from deepbrain import pitch_tracker as T
from deepbrain.errors import AudioError, FormatError

F32 = np.float32
DATA = Path(__file__).parent / "data" / "pitch"
_spec = importlib.util.spec_from_file_location("make_golden", DATA / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(DATA / "golden.npz"))


def _opts(cls, args):
    return P._parse(list(args), cls, "test")


# --------------------------------------------------------------------------- options

KALDI_PITCH_DEFAULTS = dict(
    sample_frequency=16000, frame_shift=10, frame_length=25, preemphasis_coefficient=0,
    min_f0=50, max_f0=400, soft_min_f0=10, penalty_factor=0.1, lowpass_cutoff=1000,
    resample_frequency=4000, delta_pitch=0.005, nccf_ballast=7000, lowpass_filter_width=1,
    upsample_filter_width=5, max_frames_latency=0, frames_per_chunk=0,
    simulate_first_pass_online=False, recompute_frame=500, nccf_ballast_online=False,
    snip_edges=True)
KALDI_PROCESS_DEFAULTS = dict(
    pitch_scale=2, pov_scale=2, pov_offset=0, delta_pitch_scale=10,
    delta_pitch_noise_stddev=0.005, normalization_left_context=75,
    normalization_right_context=75, delta_window=2, delay=0, add_pov_feature=True,
    add_normalized_log_pitch=True, add_delta_pitch=True, add_raw_log_pitch=False, srand=0)


def test_defaults_are_kaldis():
    """pitch-functions.h's constructors (and process-kaldi-pitch-feats' --srand=0)."""
    assert P.PitchOptions().__dict__ == KALDI_PITCH_DEFAULTS
    assert P.ProcessPitchOptions().__dict__ == KALDI_PROCESS_DEFAULTS
    assert P.load_pitch_options(None) == P.PitchOptions()
    assert P.load_process_pitch_options(None) == P.ProcessPitchOptions()


def test_config_files_read_as_kaldi_reads_them(tmp_path):
    conf = tmp_path / "pitch.conf"
    conf.write_text("# from egs/swbd\n--sample-frequency=8000  # telephone\n\n"
                    "--min_f0=60\n--max-f0=300\n--snip-edges=false\n--frames-per-chunk=10\n")
    opts = P.load_pitch_options(conf)
    assert (opts.sample_frequency, opts.min_f0, opts.max_f0) == (8000, 60, 300)
    assert opts.snip_edges is False and opts.frames_per_chunk == 10
    assert opts.delta_pitch == 0.005  # the rest stays Kaldi's
    post = tmp_path / "process_pitch.conf"
    post.write_text("--add-raw-log-pitch=true\n--delay=2\n--srand=3\n")
    popts = P.load_process_pitch_options(post)
    assert popts.add_raw_log_pitch and popts.delay == 2 and popts.srand == 3 and popts.dim == 4


@pytest.mark.parametrize("line, why", [
    ("--min-f0=nan", "not a number"),
    ("--max-f0=inf", "not a number"),
    ("--nccf-ballast=1e999", "not a finite number"),
    ("--min-f0=-50", "min-f0"),
    ("--min-f0=400", "min-f0 < max-f0"),
    ("--min-f0=500\n--max-f0=400", "min-f0 < max-f0"),
    ("--delta-pitch=0", "delta-pitch"),
    ("--penalty-factor=-0.1", "penalty-factor"),
    ("--lowpass-cutoff=2001", "lowpass-cutoff"),
    ("--resample-frequency=0", "resample-frequency"),
    ("--frame-shift=-10", "frame-shift"),
    ("--frame-length=0.1", "frame-length"),
    ("--upsample-filter-width=0", "filter-width"),
    ("--frames-per-chunk=-1", "frames-per-chunk"),
    ("--frames-per-chunk=99999999999", "32-bit"),
    ("--simulate-first-pass-online=true", "frames-per-chunk"),
    ("--max-f0=3000", "too high"),
    ("--delta-pitch=0.00001", "4000 lag states"),
    ("--min-f0=$(rm -rf ~)", "not a plain --name=value option"),
    ("-rf ~)", "expected --name=value"),
    ("--min-f0=$(reboot)", "not a plain --name=value option"),
    ("--min-f0=`id`", "not a plain --name=value option"),
    ("--min-f0=1_000", "not a number"),
    ("--min-f0=fifty", "not a number"),
    ("--snip-edges=maybe", "true or false"),
    ("--min-f1=50", "unknown or unsupported option --min-f1"),
    ("--config=other.conf", "unknown or unsupported option --config"),
    ("min-f0=50", "expected --name=value"),
])
def test_hostile_pitch_config_is_an_error_naming_the_file(tmp_path, line, why):
    conf = tmp_path / "pitch.conf"
    conf.write_text(line + "\n")
    with pytest.raises(FormatError) as e:
        P.load_pitch_options(conf)
    assert str(conf) in str(e.value) and why in str(e.value)


@pytest.mark.parametrize("line, why", [
    ("--pitch-scale=nan", "not a number"),
    ("--delta-pitch-noise-stddev=-1", "stddev"),
    ("--normalization-left-context=-1", "contexts"),
    ("--delay=-2", "delay"),
    ("--delta-window=0", "delta-window"),
    ("--add-pov-feature=false\n--add-normalized-log-pitch=false\n--add-delta-pitch=false",
     "no output"),
    ("--srand=3000000000", "32-bit"),
    ("--srand=$(whoami)", "not a plain --name=value option"),
    ("--add-delta-pitch=yes", "true or false"),
])
def test_hostile_process_config_is_an_error_naming_the_file(tmp_path, line, why):
    conf = tmp_path / "process_pitch.conf"
    conf.write_text(line + "\n")
    with pytest.raises(FormatError) as e:
        P.load_process_pitch_options(conf)
    assert str(conf) in str(e.value) and why in str(e.value)


def test_unreadable_config_is_an_error(tmp_path):
    with pytest.raises(FormatError, match="cannot be read"):
        P.load_pitch_options(tmp_path / "missing.conf")
    (tmp_path / "bin.conf").write_bytes(b"\xff\xfe--min-f0=5\x00")
    with pytest.raises(FormatError, match="bin.conf"):
        P.load_pitch_options(tmp_path / "bin.conf")


# --------------------------------------------------------------------------- audio

@pytest.mark.parametrize("n", [0, 1, 300, 396])
def test_audio_too_short_for_one_frame(n):
    """Kaldi's first pitch frame needs 397 samples at 16 kHz (checked with
    compute-kaldi-pitch-feats): flushed, the resampler makes them the 100 samples of one
    25 ms window at 4 kHz."""
    with pytest.raises(AudioError, match=r"give no pitch frame.*longer recording"):
        P.compute_kaldi_pitch_feats(np.zeros(n, F32), source="tiny.wav")


def test_one_frame_is_enough():
    assert P.compute_kaldi_pitch_feats(np.zeros(397, F32)).shape == (1, 2)


def test_bad_samples_are_errors():
    with pytest.raises(AudioError, match="mono"):
        P.compute_kaldi_pitch_feats(np.zeros((800, 2), F32))
    with pytest.raises(AudioError, match="NaN"):
        P.compute_kaldi_pitch_feats(np.full(800, np.nan, F32))
    with pytest.raises(AudioError, match="sample rate 8000 Hz.*16000"):
        P.compute_kaldi_pitch_feats(np.zeros(800, F32), sample_rate=8000, source="x.wav")


def test_kaldis_extractframe_assertion_is_an_error():
    """compute-kaldi-pitch-feats gives up on an utterance here (checked in the kaldi test)."""
    opts = P.PitchOptions(snip_edges=False, frames_per_chunk=1)
    with pytest.raises(FormatError, match="fails an assertion.*frames-per-chunk=1"):
        P.compute_kaldi_pitch_feats(make_golden.synthetic_voice(), opts)


# --------------------------------------------------------------------------- golden

@pytest.mark.parametrize("name", list(make_golden.RAW))
def test_compute_kaldi_pitch_feats_equals_kaldi(golden, name):
    rate, args = make_golden.RAW[name]
    opts = _opts(P.PitchOptions, args)
    ours = P.compute_kaldi_pitch_feats(make_golden.synthetic_voice(rate), opts)
    np.testing.assert_array_equal(ours, golden[name])


@pytest.mark.parametrize("name", list(make_golden.PROCESSED))
def test_process_kaldi_pitch_feats_equals_kaldi(golden, name):
    """Including Kaldi's delta-pitch noise, from glibc's rand() after srand(--srand)."""
    src, args = make_golden.PROCESSED[name]
    ours = P.process_kaldi_pitch_feats(golden[src], _opts(P.ProcessPitchOptions, args))
    np.testing.assert_allclose(ours, golden[name], rtol=0, atol=1e-6)


def test_noise_continues_over_an_archive(golden):
    """One process-kaldi-pitch-feats run over two utterances draws the second's noise after
    the first's: pass one GlibcRand to both calls."""
    rand = P.GlibcRand(0)
    P.process_kaldi_pitch_feats(golden["raw16"], rand=rand)
    second = P.process_kaldi_pitch_feats(golden["raw8"], rand=rand)
    np.testing.assert_allclose(second[:, 2], golden["proc_second_delta"], rtol=0, atol=1e-6)
    alone = P.process_kaldi_pitch_feats(golden["raw8"])
    assert np.abs(alone[:, 2] - golden["proc_second_delta"]).max() > 1e-3


def test_noise_free_delta_is_the_plain_delta(golden):
    opts = P.ProcessPitchOptions(delta_pitch_noise_stddev=0)
    quiet = P.process_kaldi_pitch_feats(golden["raw16"], opts)
    noisy = P.process_kaldi_pitch_feats(golden["raw16"])
    np.testing.assert_array_equal(quiet[:, :2], noisy[:, :2])
    noise = (noisy[:, 2] - quiet[:, 2]) / (10 * 0.005)  # RandGauss() per frame
    assert 0.5 < noise.std() < 1.5 and np.abs(noise).max() < 5


def test_viterbi_equals_kaldis_computebacktraces(golden):
    """Kaldi's own ComputeBacktraces on cost vectors full of exact ties: which tied
    predecessor it keeps is its pruned search's, which the port reproduces; elsewhere the
    exhaustive minimum is the same one."""
    opts = P.PitchOptions()
    viterbi = T.Viterbi(opts, T.select_lags(opts))
    prev, nccf = make_golden.search_cases(viterbi.dist[0])
    kaldi_bp = golden["search_backpointers"].astype(np.int64)
    first_argmin_differs = 0
    for t in range(len(prev)):
        cost = viterbi.dist + prev[t][None, :]
        np.testing.assert_array_equal(T.kaldi_pruned_search(cost)[0], kaldi_bp[t])
        bp, forward, tied = viterbi.step(nccf[t], prev[t])
        untied = np.array([i not in (tied or ()) for i in range(len(bp))])
        np.testing.assert_array_equal(bp[untied], kaldi_bp[t][untied])
        np.testing.assert_array_equal(viterbi.resolve(prev[t]), kaldi_bp[t])
        first_argmin_differs += int((bp != kaldi_bp[t]).sum())
        if t < len(golden["search_forward_cost"]):
            np.testing.assert_array_equal(forward, golden["search_forward_cost"][t])
    assert first_argmin_differs > 0  # the cases do exercise the tie rule


def test_pruned_search_finds_the_exhaustive_minimum_where_untied():
    """Along a Viterbi run (smooth random NCCFs), Kaldi's pruned search and the exhaustive
    argmin agree on every state whose minimum is unique."""
    opts = P.PitchOptions()
    viterbi = T.Viterbi(opts, T.select_lags(opts))
    rng = np.random.default_rng(0)
    prev = np.zeros(len(viterbi.lags), F32)
    rows = 0
    for frame in range(40):
        walk = np.cumsum(rng.normal(0, 0.08, len(prev)))
        nccf = np.clip(np.cos(walk + frame), -1, 1).astype(F32)
        bp, forward, tied = viterbi.step(nccf, prev)
        kaldi = T.kaldi_pruned_search(viterbi.dist + prev[None, :])[0]
        untied = np.array([i not in (tied or ()) for i in range(len(bp))])
        np.testing.assert_array_equal(kaldi[untied], bp[untied])
        rows += int(untied.sum())
        prev = forward
    assert rows > 40 * 400


def test_lazy_tie_resolution_is_what_eager_resolution_gives(monkeypatch):
    """Tied states are settled only when a traceback reads them; settling every tied frame
    as it comes must give the same features."""
    x = make_golden.synthetic_voice()
    lazy = P.compute_kaldi_pitch_feats(x)
    step = T.Viterbi.step

    def eager(self, nccf, prev):
        bp, cost, tied = step(self, nccf, prev)
        return (self.resolve(prev), cost, None) if tied else (bp, cost, None)
    monkeypatch.setattr(T.Viterbi, "step", eager)
    np.testing.assert_array_equal(P.compute_kaldi_pitch_feats(x), lazy)


# --------------------------------------------------------------------------- pieces

def _fma_exact(a, b, c) -> F32:
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    f = F32(float(exact))
    return min((np.nextafter(f, F32(-np.inf)), f, np.nextafter(f, F32(np.inf))),
               key=lambda v: (abs(Fraction(float(v)) - exact),
                              int(np.array(v).view(np.int32)) & 1))


def test_fma_rounds_once():
    """Sums a double rounds onto a float midpoint: plain double arithmetic gets them wrong."""
    a = np.array([1 + 2**-23, -(1 + 2**-23), 1 + 2**-23, 3.0, 0.1], F32)
    b = np.array([2**-24 * (1 - 2**-23), 2**-24 * (1 - 2**-23), 2**-24 * (1 + 2**-23),
                  5.0, 0.2], F32)
    c = np.array([1 + 2**-23, -(1 + 2**-23), 1 + 2**-23, -15.0, 0.3], F32)
    got = blas.fma(a.astype(np.float64) * b, c)
    want = np.array([_fma_exact(*v) for v in zip(a, b, c)], F32)
    np.testing.assert_array_equal(got, want)
    assert ((a.astype(np.float64) * b + c).astype(F32) != want).sum() == 2


def _sdot_scalar(x, y) -> F32:
    """OpenBLAS's Haswell sdot written as scalar loops."""
    n = len(x)
    n1 = n - n % 32
    lanes = [F32(0)] * 32
    for i in range(n1):
        lanes[i % 32] = _fma_exact(x[i], y[i], lanes[i % 32])
    acc = [[lanes[8 * r + k] for k in range(8)] for r in range(4)]
    c = [[F32(acc[r][k + 4] + acc[r][k]) for k in range(4)] for r in range(4)]
    c0 = [F32(F32(c[0][k] + c[1][k]) + F32(c[2][k] + c[3][k])) for k in range(4)]
    mydot = F32(F32(c0[0] + c0[1]) + F32(c0[2] + c0[3])) if n1 else F32(0)
    dot = 0.0
    for i in range(n1, n):
        dot += float(F32(x[i] * y[i]))
    return F32(dot + float(mydot))


@pytest.mark.parametrize("n", [1, 5, 31, 32, 33, 100, 150, 257])
def test_sdot_is_the_kernels_order(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, n)) * 1000).astype(F32)
    y = (rng.standard_normal((3, n)) * 1000).astype(F32)
    got = blas.sdot(x, y)
    for r in range(3):
        assert got[r] == _sdot_scalar(x[r], y[r])


def test_ssum_adds_pairs_in_float_then_doubles():
    x = np.array([1e8, 1.0, 1.0, 1.0, -1e8], F32)
    assert blas.ssum(x) == F32(float(F32(1e8 + 1.0)) + float(F32(1.0 + 1.0)) - 1e8)


def test_glibc_rand_is_glibcs():
    """srand(0) is srand(1) in glibc; the sequence every C programmer has seen."""
    assert P.GlibcRand(0).rand(5).tolist() == [1804289383, 846930886, 1681692777,
                                                1714636915, 1957747793]
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        pytest.skip("not glibc")
    for seed in (7, 12345, 2**31 - 1, 2**31, -3, -2**31):
        libc.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
        assert P.GlibcRand(seed).rand(100).tolist() == [libc.rand() for _ in range(100)]


def test_process_columns_and_delay():
    feats = np.array([[0.9, 120.0], [0.8, 125.0], [0.1, 200.0], [0.95, 130.0]], F32)
    opts = P.ProcessPitchOptions(add_raw_log_pitch=True, delay=2,
                                 delta_pitch_noise_stddev=0)
    out = P.process_kaldi_pitch_feats(feats, opts)
    assert out.shape == (6, 4)
    np.testing.assert_array_equal(out[0], out[2])  # delayed: frame 0 repeated
    np.testing.assert_allclose(out[2:, 3], np.log(feats[:, 1]), rtol=1e-6)
    only_pov = P.ProcessPitchOptions(add_normalized_log_pitch=False, add_delta_pitch=False)
    np.testing.assert_array_equal(P.process_kaldi_pitch_feats(feats, only_pov), out[2:, :1])
    with pytest.raises(FormatError, match="frames x 2"):
        P.process_kaldi_pitch_feats(np.zeros((4, 3), F32))
    with pytest.raises(FormatError, match="pitch <= 0"):
        P.process_kaldi_pitch_feats(np.zeros((4, 2), F32))


def test_paste_feats_trims_to_the_shortest():
    a, b = np.ones((100, 13), F32), np.full((98, 3), 2, F32)
    out = P.paste_feats(a, b)
    assert out.shape == (98, 16) and (out[:, 13:] == 2).all()
    assert P.paste_feats(a, b, np.zeros((99, 1), F32)).shape == (98, 17)
    with pytest.raises(FormatError, match="100/97 frames.*length-tolerance=2"):
        P.paste_feats(a, np.zeros((97, 3), F32))
    with pytest.raises(FormatError, match="one is empty"):
        P.paste_feats(np.zeros((0, 13), F32), np.zeros((0, 3), F32))
    with pytest.raises(FormatError, match="two or more"):
        P.paste_feats(a)


def test_pitch_imports_no_qt():
    code = ("import sys\nfor m in ('PyQt5', 'pyqtgraph', 'OpenGL'): sys.modules[m] = None\n"
            "import deepbrain.pitch\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- real Kaldi

def _kaldi_uses_the_emulated_blas(root: Path) -> bool:
    """kaldi_blas follows OpenBLAS's Haswell/Zen kernels, which OpenBLAS picks on x86-64 CPUs
    with AVX2 and no AVX-512; elsewhere Kaldi's own sums differ in the last bits."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
        mk = (root / "src" / "kaldi.mk").read_text()
    except OSError:
        return False
    return ("avx2" in flags and "fma" in flags and "avx512f" not in flags
            and "OPENBLAS" in mk)


@pytest.fixture(scope="module")
def kaldi():
    root = Path(os.environ["KALDI_ROOT"])
    return root / "src" / "featbin", _kaldi_uses_the_emulated_blas(root)


def _wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    make_golden._write_wav(path, samples, rate)
    return path


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    """name -> (wav, rate): espeak-ng speech and a real voice (sox to 16 and 8 kHz), silence,
    a tone sweep, the synthetic voice."""
    d = tmp_path_factory.mktemp("pitchwavs")
    rate = 16000
    t = np.arange(7 * rate) / rate  # over 500 frames: Kaldi's recompute-frame
    sweep = np.round(12000 * np.sin(2 * np.pi * (80 * t + 25 * t * t))).astype(F32)
    out = {"silence": (_wav(d / "silence.wav", np.zeros(2 * rate, F32), rate), rate),
           "sweep": (_wav(d / "sweep.wav", sweep, rate), rate),
           "synthetic": (_wav(d / "synthetic.wav", make_golden.synthetic_voice(), rate), rate)}
    if shutil.which("espeak-ng") and shutil.which("sox"):
        subprocess.run(["espeak-ng", "-w", str(d / "es.wav"), "The quick brown fox jumps "
                        "over the lazy dog. She sells sea shells by the sea shore."],
                       check=True, capture_output=True)
        for r in (16000, 8000):
            subprocess.run(["sox", str(d / "es.wav"), "-r", str(r), str(d / f"es{r}.wav")],
                           check=True)
            out[f"espeak{r // 1000}k"] = (d / f"es{r}.wav", r)
    voice = Path("/usr/share/sounds/alsa/Front_Center.wav")
    if voice.is_file() and shutil.which("sox"):
        subprocess.run(["sox", str(voice), "-r", "16000", "-c", "1", str(d / "voice.wav")],
                       check=True)
        out["voice"] = (d / "voice.wav", 16000)
    return out


KALDI_CASES = {
    "default": ([], []),
    "f0-60-300": (["--min-f0=60", "--max-f0=300"], ["--delta-pitch-noise-stddev=0"]),
    "no-snip-edges": (["--snip-edges=false"], []),
    "chunks": (["--frames-per-chunk=10"], []),
    "recompute": (["--recompute-frame=50", "--frames-per-chunk=5"],
                  ["--add-pov-feature=false", "--add-delta-pitch=false"]),
    "online": (["--frames-per-chunk=10", "--simulate-first-pass-online=true",
                "--max-frames-latency=20", "--nccf-ballast-online=true"], []),
    "odd": (["--preemphasis-coefficient=0.97", "--lowpass-cutoff=1500",
             "--resample-frequency=5000", "--delta-pitch=0.01", "--penalty-factor=0.2",
             "--soft-min-f0=5", "--nccf-ballast=100", "--lowpass-filter-width=2",
             "--upsample-filter-width=3", "--frame-length=30", "--frame-shift=12"],
            ["--add-raw-log-pitch=true", "--delay=3", "--normalization-left-context=20",
             "--normalization-right-context=10", "--delta-window=3", "--srand=7"]),
}


def _run_kaldi(featbin, tmp, wav, rate, pitch_args, process_args):
    import kaldiio

    (tmp / "wav.scp").write_text(f"u {wav}\n")
    subprocess.run([str(featbin / "compute-kaldi-pitch-feats"), f"--sample-frequency={rate}",
                    *pitch_args, f"scp:{tmp / 'wav.scp'}", f"ark:{tmp / 'raw.ark'}"],
                   check=True, capture_output=True)
    subprocess.run([str(featbin / "process-kaldi-pitch-feats"), *process_args,
                    f"ark:{tmp / 'raw.ark'}", f"ark:{tmp / 'proc.ark'}"],
                   check=True, capture_output=True)
    return (dict(kaldiio.load_ark(str(tmp / "raw.ark")))["u"],
            dict(kaldiio.load_ark(str(tmp / "proc.ark")))["u"])


@pytest.mark.kaldi
@pytest.mark.parametrize("case", list(KALDI_CASES))
def test_equals_real_kaldi(kaldi, wavs, tmp_path, case):
    """Every wav through both tools; the maxima per column are printed (pytest -s). Exact
    where Kaldi's BLAS is the one kaldi_blas follows; elsewhere within float32 rounding
    (NCCF), and the same pitch on all but a handful of near-tie frames."""
    from deepbrain.audio import read_wav

    featbin, exact = kaldi
    pitch_args, process_args = KALDI_CASES[case]
    for name, (wav, rate) in wavs.items():
        raw, proc = _run_kaldi(featbin, tmp_path, wav, rate, pitch_args, process_args)
        popts = _opts(P.PitchOptions, [f"--sample-frequency={rate}", *pitch_args])
        ours = P.compute_kaldi_pitch_feats(read_wav(wav).samples, popts, sample_rate=rate)
        ours_proc = P.process_kaldi_pitch_feats(ours, _opts(P.ProcessPitchOptions,
                                                            process_args))
        assert ours.shape == raw.shape and ours_proc.shape == proc.shape, name
        err_raw, err_proc = np.abs(ours - raw).max(0), np.abs(ours_proc - proc).max(0)
        print(f"{case:14s} {name:10s} {len(raw):4d} frames  max |ours - Kaldi| "
              f"nccf {err_raw[0]:.3g} pitch {err_raw[1]:.3g} | processed "
              + " ".join(f"{e:.3g}" for e in err_proc))
        if exact:
            assert err_raw.max() == 0 and err_proc.max() == 0, name
        else:
            assert err_raw[0] < 1e-4 and np.mean(ours[:, 1] != raw[:, 1]) < 0.02, name


@pytest.mark.kaldi
def test_paste_feats_equals_kaldi(kaldi, wavs, tmp_path):
    """make_mfcc_pitch.sh's paste-feats --length-tolerance=2 of MFCCs and pitch."""
    import kaldiio

    featbin, _ = kaldi
    wav, rate = wavs["synthetic"]
    raw, proc = _run_kaldi(featbin, tmp_path, wav, rate, ["--snip-edges=false"], [])
    subprocess.run([str(featbin / "compute-mfcc-feats"), f"scp:{tmp_path / 'wav.scp'}",
                    f"ark:{tmp_path / 'mfcc.ark'}"], check=True, capture_output=True)
    subprocess.run([str(featbin / "paste-feats"), "--length-tolerance=2",
                    f"ark:{tmp_path / 'mfcc.ark'}", f"ark:{tmp_path / 'proc.ark'}",
                    f"ark:{tmp_path / 'pasted.ark'}"], check=True, capture_output=True)
    mfcc = dict(kaldiio.load_ark(str(tmp_path / "mfcc.ark")))["u"]
    assert len(mfcc) != len(proc)  # snip-edges differ: there is something to trim
    pasted = dict(kaldiio.load_ark(str(tmp_path / "pasted.ark")))["u"]
    np.testing.assert_array_equal(P.paste_feats(mfcc, proc), pasted)


@pytest.mark.kaldi
def test_kaldi_gives_up_where_we_raise(kaldi, wavs, tmp_path):
    featbin, _ = kaldi
    wav, rate = wavs["synthetic"]
    (tmp_path / "wav.scp").write_text(f"u {wav}\n")
    r = subprocess.run([str(featbin / "compute-kaldi-pitch-feats"), "--snip-edges=false",
                        "--frames-per-chunk=1", f"scp:{tmp_path / 'wav.scp'}", "ark:/dev/null"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Assertion failed" in r.stderr
    with pytest.raises(FormatError):
        P.compute_kaldi_pitch_feats(make_golden.synthetic_voice(),
                                    P.PitchOptions(snip_edges=False, frames_per_chunk=1))
