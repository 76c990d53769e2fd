"""The ``TransitionModel`` at the head of a ``final.mdl``, read to get past it (and to know the
model's phones and pdfs), as ``src/hmm/transition-model.cc`` and ``hmm-topology.cc`` read it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kaldi_formats import KaldiStream


@dataclass(frozen=True, eq=False)
class TransitionModel:
    """``phones``: the phones the topology covers; ``tuples``: one row per transition state,
    (phone, hmm-state, forward-pdf, self-loop-pdf); ``log_probs``: per transition id."""

    phones: tuple[int, ...]
    tuples: np.ndarray
    log_probs: np.ndarray

    @property
    def num_pdfs(self) -> int:
        return int(self.tuples[:, 2:].max()) + 1 if self.tuples.size else 0


def read_transition_model(s: KaldiStream) -> TransitionModel:
    s.expect_token("<TransitionModel>")
    phones = _read_topology(s)
    token = s.read_token()
    if token not in ("<Triples>", "<Tuples>"):
        raise s.fail(f"expected <Triples> or <Tuples> in the transition model, found {token!r}")
    size = s.read_int()
    if size < 0:
        raise s.fail(f"negative number of transition states {size}")
    width = 4 if token == "<Tuples>" else 3
    rows = []
    for _ in range(size):  # every row consumes bytes, so a bad size ends at the file's end
        rows.append([s.read_int() for _ in range(width)])
    tuples = np.array(rows, dtype=np.int64).reshape(size, width)
    if width == 3:
        tuples = np.concatenate([tuples, tuples[:, 2:3]], axis=1)
    s.expect_token(token.replace("<", "</"))
    s.expect_token("<LogProbs>")
    log_probs = s.read_vector()
    s.expect_token("</LogProbs>")
    s.expect_token("</TransitionModel>")
    if tuples.size and tuples[:, 2:].min() < 0:
        raise s.fail("a transition state has a negative pdf id")
    return TransitionModel(phones, tuples, log_probs)


def _read_topology(s: KaldiStream) -> tuple[int, ...]:
    s.expect_token("<Topology>")
    if not s.binary:
        return _read_text_topology(s)
    phones = s.read_int_vector()
    s.read_int_vector()  # phone2idx
    size = s.read_int()
    is_hmm = size != -1
    if not is_hmm:
        size = s.read_int()
    if size < 0:
        raise s.fail(f"negative number of topology entries {size}")
    for _ in range(size):
        for _ in range(_count(s)):
            s.read_int()  # forward pdf class
            if not is_hmm:
                s.read_int()  # self-loop pdf class
            for _ in range(_count(s)):
                s.read_int()
                s.read_float()
    s.expect_token("</Topology>")
    return tuple(int(p) for p in phones)


def _count(s: KaldiStream) -> int:
    n = s.read_int()
    if n < 0:
        raise s.fail(f"negative count {n} in the HMM topology")
    return n


def _read_text_topology(s: KaldiStream) -> tuple[int, ...]:
    """The human-readable form: only the phones are kept, the rest is read past."""
    phones: list[int] = []
    in_phones = False
    while True:
        token = s.read_token()
        if token == "</Topology>":
            return tuple(sorted(phones))
        if token == "<ForPhones>":
            in_phones = True
        elif token == "</ForPhones>":
            in_phones = False
        elif in_phones:
            if not token.isdigit():
                raise s.fail(f"expected a phone number in the topology, found {token[:20]!r}")
            phones.append(int(token))
