"""The PyTorch trainer (the train extra): it learns, it is bit-reproducible, its network is
the nnet1 one it writes, each epoch takes one copy of every utterance; clean errors."""

import sys

import numpy as np
import pytest

from deepbrain.training.errors import TrainingError
from deepbrain.training.frames import FrameSet
from deepbrain.training.trainer import SplicedInput, TrainConfig, initial_network
from deepbrain.training.transforms import make_feature_transform

from test_training_network import blobs


def torch_config(**kw):
    base = dict(hidden_layers=2, hidden_units=16, epochs=3, batch_size=32, learn_rate=1e-2,
                seed=5, backend="torch")
    return TrainConfig(**{**base, **kw})


def test_torch_training_learns_is_deterministic_and_writes_its_own_network():
    pytest.importorskip("torch")
    from deepbrain.training.torchtrain import train

    data = blobs(0)
    ft = make_feature_transform(data, 1)
    tr, va = SplicedInput(data.subset(range(30)), ft), SplicedInput(data.subset(range(30, 40)), ft)
    seen = []
    mlp, reports = train(tr, va, 3, torch_config(dropout=0.1), seen.append)
    assert seen == list(reports) and [r.epoch for r in reports] == list(range(len(reports)))
    assert reports[0].valid_accuracy < 0.6 and reports[-1].valid_accuracy > 0.95
    again, _ = train(tr, va, 3, torch_config(dropout=0.1))
    assert all(np.array_equal(a, b) for a, b in zip(mlp.params(), again.params()))
    # the exported network computes what the trainer measured (dropout off at test time)
    _, logp = mlp.forward(va.batch(np.arange(va.frames.num_frames)))
    acc = float((logp.argmax(axis=1) == va.frames.labels).mean())
    best = [r for r in reports if r.accepted][-1]
    assert abs(acc - best.valid_accuracy) < 1e-6
    # it starts from the numpy trainer's initial weights (the README's untrained control)
    _, first = train(tr, va, 3, torch_config(epochs=1))
    start = initial_network(tr.dim, 3, torch_config())
    _, logp0 = start.forward(va.batch(np.arange(va.frames.num_frames)))
    assert abs(float((logp0.argmax(axis=1) == va.frames.labels).mean())
               - first[0].valid_accuracy) < 1e-6


def test_each_epoch_takes_one_copy_of_every_utterance():
    pytest.importorskip("torch")
    from deepbrain.training.torchtrain import _Data

    n, copies, frames = 12, 3, 4
    ids = tuple(f"u{i}~{k}" for i in range(n) for k in range(copies))
    data = FrameSet(ids, ("s",) * len(ids), np.arange(len(ids) + 1) * frames,
                    np.zeros((frames * len(ids), 2), np.float32),
                    np.zeros(frames * len(ids), np.int32), np.tile(np.arange(copies), n))
    d = _Data(SplicedInput(data, make_feature_transform(data, 0)))
    picks = []
    for epoch in (1, 2, 3):
        rows = d.epoch_rows(0, epoch)
        assert rows.size == n * frames
        utt = rows[::frames] // frames
        assert np.array_equal(utt // copies, np.arange(n))  # one version of each utterance
        picks.append(utt % copies)
    assert np.array_equal(d.epoch_rows(0, 2), d.epoch_rows(0, 2))
    assert len({tuple(p) for p in picks}) == 3 and np.concatenate(picks).std() > 0


def test_trainer_options_are_checked():
    with pytest.raises(TrainingError, match="unknown trainer 'jax'"):
        TrainConfig(backend="jax")
    with pytest.raises(TrainingError, match="dropout and l2 need the torch trainer"):
        TrainConfig(dropout=0.2)
    with pytest.raises(TrainingError, match="dropout must be in"):
        TrainConfig(backend="torch", dropout=1.0)


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    from deepbrain.training import torchtrain

    monkeypatch.setitem(sys.modules, "torch", None)
    data = blobs(1, n_utts=4)
    ft = make_feature_transform(data, 0)
    with pytest.raises(TrainingError, match=r"PyTorch is not installed.*\.\[train\]"):
        torchtrain.train(SplicedInput(data, ft), SplicedInput(data, ft), 3, torch_config())
