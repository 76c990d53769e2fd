"""The trainable network: sigmoid hidden layers and a softmax output, in float32 numpy.

It is the twin of the nnet1 network it becomes (:meth:`Mlp.to_nnet`: AffineTransform +
Sigmoid per hidden layer, AffineTransform + Softmax at the end). Weights are kept input x
output (``x @ W``); nnet1 stores output x input. Mutable on purpose: training updates it in
place; the frozen artefact is the :class:`~deepbrain.nnet1.Nnet` it is written as.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import expit

from ..nnet1 import AffineTransform, Nnet, Sigmoid, Softmax

F32 = np.float32


class Mlp:
    """``weights[k]`` (in x out) and ``biases[k]`` of layer k; the last layer is the output."""

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]):
        self.weights = [np.asarray(w, dtype=F32) for w in weights]
        self.biases = [np.asarray(b, dtype=F32) for b in biases]

    @classmethod
    def init(cls, dims: Sequence[int], rng: np.random.Generator) -> "Mlp":
        """Glorot-uniform weights (limit sqrt(6 / (in + out))), zero biases."""
        weights, biases = [], []
        for n_in, n_out in zip(dims[:-1], dims[1:]):
            limit = np.sqrt(6.0 / (n_in + n_out))
            weights.append(rng.uniform(-limit, limit, (n_in, n_out)).astype(F32))
            biases.append(np.zeros(n_out, dtype=F32))
        return cls(weights, biases)

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.weights[0].shape[0],) + tuple(w.shape[1] for w in self.weights)

    def params(self) -> list[np.ndarray]:
        """W1, b1, W2, b2, ... (the arrays themselves: updating them updates the network)."""
        return [p for wb in zip(self.weights, self.biases) for p in wb]

    def copy(self) -> "Mlp":
        return Mlp([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    def load(self, other: "Mlp") -> None:
        """Take ``other``'s values in place (the arrays stay the same objects)."""
        for mine, theirs in zip(self.params(), other.params()):
            mine[...] = theirs

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Hidden layer outputs and the output's log-probabilities (log-softmax)."""
        hidden = []
        a = np.asarray(x, dtype=F32)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = expit(a @ w + b)
            hidden.append(a)
        z = a @ self.weights[-1] + self.biases[-1]
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        return hidden, z

    def gradients(self, x: np.ndarray, y: np.ndarray
                  ) -> tuple[float, int, list[np.ndarray]]:
        """Summed cross-entropy, frames classified right, and the gradients of the mean
        cross-entropy in :meth:`params` order."""
        hidden, logp = self.forward(x)
        n = x.shape[0]
        rows = np.arange(n)
        loss = -float(logp[rows, y].sum(dtype=np.float64))
        correct = int((logp.argmax(axis=1) == y).sum())
        delta = np.exp(logp)
        delta[rows, y] -= F32(1)
        delta *= F32(1.0 / n)
        grads: list[np.ndarray] = []
        inputs = [np.asarray(x, dtype=F32)] + hidden
        for k in range(len(self.weights) - 1, -1, -1):
            grads.append(delta.sum(axis=0))
            grads.append(inputs[k].T @ delta)
            if k:
                delta = delta @ self.weights[k].T
                h = inputs[k]
                delta *= h * (F32(1) - h)
        return loss, correct, grads[::-1]

    def to_nnet(self) -> Nnet:
        """The nnet1 network: AffineTransform + Sigmoid per hidden layer, then
        AffineTransform + Softmax."""
        comps = []
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            n_in, n_out = w.shape
            comps.append(AffineTransform(n_in, n_out, linearity=np.ascontiguousarray(w.T),
                                         bias=b.copy()))
            comps.append(Softmax(n_out, n_out) if k == last else Sigmoid(n_out, n_out))
        return Nnet(tuple(comps))


class Adam:
    """Adam (Kingma & Ba) in float32, state kept per parameter array."""

    def __init__(self, params: Sequence[np.ndarray], beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             learn_rate: float) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        rate = F32(learn_rate * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t))
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= F32(b1)
            m += F32(1 - b1) * g
            v *= F32(b2)
            v += F32(1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom += F32(self.eps)
            p -= rate * m / denom

    def state(self) -> tuple:
        return [m.copy() for m in self.m], [v.copy() for v in self.v], self.t

    def restore(self, state: tuple) -> None:
        ms, vs, self.t = state
        for mine, theirs in zip(self.m + self.v, ms + vs):
            mine[...] = theirs
