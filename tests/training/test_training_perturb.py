"""Perturbed training copies: VTLP-warped MFCCs, silences, exact labels; read_split's copies
and the validation split that keeps copies of a validation utterance out of training."""

import numpy as np
import pytest

from deepbrain.audio import Audio, write_wav16
from deepbrain.features import compute_mfcc_feats
from deepbrain.options import CmvnOptions, MfccOptions
from deepbrain.training.frames import FrameSet, FrontEnd, read_split
from deepbrain.training.perturb import (Perturbation, draw_perturbation, mfcc_warped,
                                        perturb)
from deepbrain.training.recipe import RecipeConfig, _split_valid

OPTS = MfccOptions()


def voiced(seconds=0.8, f0=120.0, seed=0):
    """A buzz through two formants, silence (a low noise floor) at both ends."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    x = np.sign(np.sin(2 * np.pi * f0 * t)) * 3000
    x += 2000 * np.sin(2 * np.pi * 700 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    x[:3200] = 0
    x[-3200:] = 0
    return np.rint(x + rng.standard_normal(n) * 3)


def test_warp_1_is_compute_mfcc_feats_and_other_warps_move_the_spectrum():
    x = voiced()
    ref = compute_mfcc_feats(Audio(x.astype(np.float32), 16000, "t"), OPTS)
    mine = mfcc_warped(x, OPTS, 1.0)
    assert mine.shape == ref.shape and mine.dtype == np.float32
    assert np.abs(mine - ref).max() < 1e-3
    for warp in (0.9, 1.1):
        assert np.abs(mfcc_warped(x, OPTS, warp) - ref)[:, 1:].mean() > 0.1


def test_perturb_keeps_one_label_per_frame_and_pads_with_sil():
    x = voiced()
    n = OPTS.num_frames(x.size)
    labels = np.full(n, 0, np.int32)
    labels[20:-20] = 7
    p = Perturbation(warp=0.95, lead_frames=30, tail_frames=12, gate=True, floor="pink",
                     floor_db=-60, pad_zero=True, rumble_db=-40, seed=3)
    y, lab = perturb(x, labels, p, sil=0)
    assert OPTS.num_frames(y.size) == lab.size == n + 42
    assert np.array_equal(lab[30:30 + n], labels) and not lab[:30].any() and not lab[-12:].any()
    assert not y[:30 * 160].any() and not y[-12 * 160:].any()  # padding left at zero
    assert not y[:50 * 160].any() and y[50 * 160:].any()  # gated: before speech frame 20 + 30
    assert np.array_equal(y, np.rint(y)) and np.abs(y).max() <= 32768
    again, _ = perturb(x, labels, p, sil=0)
    assert np.array_equal(y, again)


def test_the_identity_perturbation_changes_nothing():
    x = voiced()
    labels = np.zeros(OPTS.num_frames(x.size), np.int32)
    y, lab = perturb(x, labels, Perturbation(seed=4), sil=0)
    assert Perturbation(seed=4).identity and np.array_equal(y, x) and np.array_equal(lab, labels)


def test_drawn_perturbations_vary_and_repeat_from_their_seed():
    ps = [draw_perturbation(np.random.default_rng([0, i])) for i in range(200)]
    assert ps == [draw_perturbation(np.random.default_rng([0, i])) for i in range(200)]
    warps = np.array([p.warp for p in ps])
    assert 0.88 <= warps.min() and warps.max() <= 1.12 and warps.std() > 0.05
    assert 0.4 < np.mean([p.lead_frames > 0 for p in ps]) < 0.8
    assert any(p.gate for p in ps) and any(p.rumble_db for p in ps) and any(p.pad_zero for p in ps)
    assert all(p.describe().startswith("warp:") for p in ps)


def data_dir(tmp_path, n=3):
    import kaldiio

    d = tmp_path / "data"
    d.mkdir()
    scp, spk, labels = [], [], {}
    for i in range(n):
        x = voiced(0.6 + 0.1 * i, seed=i)
        write_wav16(Audio(x.astype(np.float32), 16000, f"u{i}", as_on_disk=False),
                    tmp_path / f"u{i}.wav")
        y = np.zeros(OPTS.num_frames(x.size), np.int32)
        y[20:-20] = 1 + i
        scp.append(f"u{i} {tmp_path / f'u{i}.wav'}\n")
        spk.append(f"u{i} s{i}\n")
        labels[f"u{i}"] = y
    (d / "wav.scp").write_text("".join(scp))
    (d / "utt2spk").write_text("".join(spk))
    kaldiio.save_ark(str(d / "phones.ark"), labels, scp=str(d / "phones.scp"))
    return d


def test_read_split_copies(tmp_path):
    d = data_dir(tmp_path)
    fe = FrontEnd(cmvn=CmvnOptions(norm_vars=True))
    one = read_split(d, fe)
    three = read_split(d, fe, copies=3, seed=1, workers=2)
    assert three.utt_ids[:4] == ("u0", "u0~1", "u0~2", "u1")
    assert list(three.copy_numbers) == [0, 1, 2] * 3
    for i in range(3):  # copy 0 is the original, exactly
        assert np.array_equal(three.feats[three.rows(3 * i)], one.feats[one.rows(i)])
    for i in range(9):  # every copy: one label per frame, the speech labels kept
        r = three.rows(i)
        assert set(np.unique(three.labels[r])) == {0, 1 + i // 3}
    again = read_split(d, fe, copies=3, seed=1, workers=1)
    assert np.array_equal(again.feats, three.feats) and np.array_equal(again.labels,
                                                                       three.labels)


def test_validation_takes_originals_and_training_none_of_their_copies():
    n, copies = 40, 3
    ids = tuple(f"u{i}" + (f"~{k}" if k else "") for i in range(n) for k in range(copies))
    frames = FrameSet(ids, ("s",) * len(ids), np.arange(len(ids) + 1) * 5,
                      np.zeros((5 * len(ids), 2), np.float32),
                      np.zeros(5 * len(ids), np.int32),
                      np.tile(np.arange(copies), n))
    tr, va = _split_valid(frames, RecipeConfig(valid_share=0.1, copies=copies))
    assert len(va.utt_ids) == 4 and not va.copy_numbers.any()
    assert len(tr.utt_ids) == (n - 4) * copies
    base = {u.split("~")[0] for u in tr.utt_ids}
    assert not base & set(va.utt_ids)


@pytest.mark.parametrize("copies", [0, -1])
def test_read_split_refuses_no_copies(tmp_path, copies):
    from deepbrain.training.errors import TrainingError

    with pytest.raises(TrainingError, match="copies must be at least 1"):
        read_split(data_dir(tmp_path, 1), copies=copies)
