"""The numpy network: gradients, its nnet1 twin, deterministic training, the schedule."""

import numpy as np
import pytest

from deepbrain.nnet1 import AffineTransform, Sigmoid, Softmax, nnet_bytes, read_nnet, write_nnet
from deepbrain.training.errors import TrainingError
from deepbrain.training.frames import FrameSet
from deepbrain.training.network import Adam, Mlp
from deepbrain.training.trainer import SplicedInput, TrainConfig, evaluate, train
from deepbrain.training.transforms import make_feature_transform


def tiny(seed=0, dims=(6, 5, 4, 3)):
    return Mlp.init(dims, np.random.default_rng(seed))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    mlp = tiny()
    for b in mlp.biases:
        b[...] = rng.standard_normal(b.shape) * 0.5
    x = rng.standard_normal((7, 6)).astype(np.float32)
    y = rng.integers(0, 3, 7)
    _, _, grads = mlp.gradients(x, y)

    def mean_loss():
        _, logp = mlp.forward(x)
        return -logp[np.arange(7), y].astype(np.float64).mean()

    eps = 1e-2
    for p, g in zip(mlp.params(), grads):
        assert g.shape == p.shape and g.dtype == np.float32
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // 6)):
            keep = flat[i]
            flat[i] = keep + eps
            up = mean_loss()
            flat[i] = keep - eps
            down = mean_loss()
            flat[i] = keep
            assert abs((up - down) / (2 * eps) - gflat[i]) < 2e-3 + 0.02 * abs(gflat[i])


def test_nnet1_twin_computes_the_same_layers(tmp_path):
    mlp = tiny(2, (10, 8, 8, 4))
    nnet = mlp.to_nnet()
    assert [type(c) for c in nnet.components] == [AffineTransform, Sigmoid] * 2 + \
        [AffineTransform, Softmax]
    write_nnet(nnet, tmp_path / "final.nnet")
    back = read_nnet(tmp_path / "final.nnet")
    assert nnet_bytes(back) == (tmp_path / "final.nnet").read_bytes()
    x = np.random.default_rng(3).standard_normal((20, 10)).astype(np.float32)
    layers, out = back.propagate_layers(x)
    hidden, logp = mlp.forward(x)
    for k, h in enumerate(hidden, 1):
        assert np.abs(layers[k] - h).max() < 1e-6
    assert np.abs(out - np.exp(logp)).max() < 1e-6


def blobs(seed, n_utts=40, frames=50, dim=4, classes=3):
    """Utterances whose frames' class shows in their mean: an easy frame classification."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n_utts * frames).astype(np.int32)
    centres = rng.standard_normal((classes, dim)) * 3
    x = (centres[y] + rng.standard_normal((y.size, dim))).astype(np.float32)
    starts = np.arange(0, y.size + 1, frames)
    return FrameSet(tuple(f"u{i}" for i in range(n_utts)), ("s",) * n_utts, starts, x, y)


def test_training_learns_and_is_deterministic():
    data = blobs(0)
    ft = make_feature_transform(data, 1)
    tr, va = data.subset(range(30)), data.subset(range(30, 40))
    config = TrainConfig(hidden_layers=2, hidden_units=16, epochs=3, batch_size=32,
                         learn_rate=1e-2, seed=5)
    seen = []
    mlp, reports = train(SplicedInput(tr, ft), SplicedInput(va, ft), 3, config, seen.append)
    assert [r.epoch for r in reports] == list(range(len(reports))) and seen == list(reports)
    assert reports[0].valid_accuracy < 0.6 and reports[-1].valid_accuracy > 0.95
    assert all(r.learn_rate == 1e-2 for r in reports[1:2])
    again, _ = train(SplicedInput(tr, ft), SplicedInput(va, ft), 3, config)
    assert all(np.array_equal(a, b) for a, b in zip(mlp.params(), again.params()))
    assert evaluate(mlp, SplicedInput(va, ft))[1] == reports[-1].valid_accuracy or \
        not reports[-1].accepted


def test_a_worse_epoch_is_undone_and_halves_the_rate(monkeypatch):
    """The newbob schedule: validation loss 1.0 (start), 0.5, 0.6 (rejected), 0.4996."""
    import deepbrain.training.trainer as trainer

    losses = iter([1.0, 0.5, 0.6, 0.4996])
    monkeypatch.setattr(trainer, "evaluate", lambda mlp, data: (next(losses), 0.5))
    data = blobs(1, n_utts=4)
    ft = make_feature_transform(data, 0)
    starts = []

    def fake_epoch(mlp, opt, data, rate, *args):
        starts.append([p.copy() for p in mlp.params()])
        for p in mlp.params():
            p += 1
        return 0.0, 0.0

    monkeypatch.setattr(trainer, "_epoch", fake_epoch)
    mlp, reports = train(SplicedInput(data, ft), SplicedInput(data, ft), 3,
                         TrainConfig(hidden_layers=1, hidden_units=4, epochs=5))
    assert [r.accepted for r in reports] == [True, True, False, True]
    assert [r.learn_rate for r in reports[1:]] == [1e-3, 1e-3, 5e-4]
    assert len(reports) == 4  # a halved epoch gained < 0.1 %: stop before epoch 5
    assert all(np.array_equal(a, b) for a, b in zip(starts[1], starts[2]))  # epoch 2 undone
    assert all(np.allclose(a, b + 2) for a, b in zip(mlp.params(), starts[0]))


def test_spliced_input_is_the_feature_transform_on_whole_utterances():
    data = blobs(2, n_utts=3, frames=7)
    ft = make_feature_transform(data, 2)
    inp = SplicedInput(data, ft)
    whole = np.concatenate([ft.propagate(u) for u in data.utterances()])
    rows = np.array([20, 0, 6, 7, 13, 14])
    assert np.array_equal(inp.batch(rows), whole[rows])


def test_adam_moves_parameters_against_the_gradient():
    p = [np.array([1.0, -1.0], dtype=np.float32)]
    opt = Adam(p)
    opt.step(p, [np.array([2.0, -3.0], dtype=np.float32)], 0.1)
    assert np.allclose(p[0], [0.9, -0.9], atol=1e-6) and p[0].dtype == np.float32
    state = opt.state()
    opt.step(p, [np.array([1.0, 1.0], dtype=np.float32)], 0.1)
    opt.restore(state)
    assert opt.t == 1


def test_bad_settings_are_refused():
    with pytest.raises(TrainingError, match="hidden-units must be at least 1"):
        TrainConfig(hidden_units=0)
    with pytest.raises(TrainingError, match="learn-rate must be positive"):
        TrainConfig(learn_rate=0)
