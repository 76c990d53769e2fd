"""nnet3 descriptors: the ``input=...`` expressions of config lines, parsed and evaluated.

Grammar and meaning follow ``src/nnet3/nnet-descriptor.cc``: ``Append``, ``Sum``, ``Offset``,
``Round``, ``ReplaceIndex``, ``Switch``, ``Scale``, ``Const``, ``IfDefined``, ``Failover`` and node
names. A descriptor is evaluated at a vector of frame times: it returns the values (frames x
dim, or ``None`` when only computability is asked for) and which frames are *computable*, as
Kaldi decides it: ``Sum`` and ``Append`` need every part, ``Failover(a, b)`` takes ``a`` where it
is computable and ``b`` elsewhere, ``IfDefined(a)`` is ``a`` where computable and zero elsewhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

F32 = np.float32
_NAME = re.compile(r"[A-Za-z_][-A-Za-z0-9_.]*\Z")
MAX_DEPTH = 50  # real networks nest a few levels; a corrupt line must not recurse forever
KEYWORDS = ("Append", "Sum", "Failover", "IfDefined", "Offset", "Switch", "Scale", "Const",
            "Round", "ReplaceIndex")

# value(node, times) -> (frames x dim or None, computable mask)
Lookup = Callable[[str, np.ndarray], "tuple[Optional[np.ndarray], np.ndarray]"]
Value = "tuple[Optional[np.ndarray], np.ndarray]"


class DescriptorError(ValueError):
    """A descriptor that does not parse or does not fit; the network reader names the file."""


def is_valid_name(name: str) -> bool:
    """Kaldi's ``IsValidName``: a letter or _, then letters, digits, -, _ or ."""
    return bool(_NAME.match(name))


class Descriptor:
    def dim(self, node_dim: Callable[[str], int]) -> int:
        raise NotImplementedError

    def children(self) -> tuple["Descriptor", ...]:
        return ()

    def nodes(self) -> set[str]:
        out: set[str] = set()
        for c in self.children():
            out |= c.nodes()
        return out

    def modulus(self) -> int:
        return math.lcm(1, *(c.modulus() for c in self.children()))

    def demand(self, times: np.ndarray, need: dict[str, list[np.ndarray]]) -> None:
        """Add the (node, times) this needs to ``need`` (Kaldi's ``GetDependencies``)."""
        for c in self.children():
            c.demand(times, need)

    def evaluate(self, times: np.ndarray, value: Lookup) -> Value:
        raise NotImplementedError

    def kinds(self) -> set[str]:
        out = {type(self).__name__}
        for c in self.children():
            out |= c.kinds()
        return out


@dataclass(frozen=True)
class NodeName(Descriptor):
    node: str

    def dim(self, node_dim):
        return node_dim(self.node)

    def nodes(self):
        return {self.node}

    def demand(self, times, need):
        need.setdefault(self.node, []).append(times)

    def evaluate(self, times, value):
        return value(self.node, times)

    def __str__(self):
        return self.node


@dataclass(frozen=True)
class _Unary(Descriptor):
    src: Descriptor

    def children(self):
        return (self.src,)

    def dim(self, node_dim):
        return self.src.dim(node_dim)

    def _times(self, times: np.ndarray) -> np.ndarray:
        return times

    def demand(self, times, need):
        self.src.demand(self._times(times), need)

    def evaluate(self, times, value):
        return self.src.evaluate(self._times(times), value)


@dataclass(frozen=True)
class Offset(_Unary):
    t: int = 0

    def _times(self, times):
        return times + self.t

    def __str__(self):
        return f"Offset({self.src}, {self.t})"


@dataclass(frozen=True)
class Round(_Unary):
    t_modulus: int = 1

    def _times(self, times):
        return times - np.mod(times, self.t_modulus)

    def modulus(self):
        return math.lcm(self.t_modulus, self.src.modulus())

    def __str__(self):
        return f"Round({self.src}, {self.t_modulus})"


@dataclass(frozen=True)
class ReplaceIndex(_Unary):
    """Only ``t`` is replaced (``x`` is always 0 in a simple network: ``x, 0`` is accepted)."""

    variable: str = "t"
    value: int = 0

    def _times(self, times):
        return times if self.variable == "x" else np.full_like(times, self.value)

    def __str__(self):
        return f"ReplaceIndex({self.src}, {self.variable}, {self.value})"


@dataclass(frozen=True)
class Scale(_Unary):
    alpha: float = 1.0

    def evaluate(self, times, value):
        data, ok = self.src.evaluate(times, value)
        return (None if data is None else data * F32(self.alpha)), ok

    def __str__(self):
        return f"Scale({self.alpha:g}, {self.src})"


@dataclass(frozen=True)
class IfDefined(_Unary):
    def evaluate(self, times, value):
        data, ok = self.src.evaluate(times, value)
        if data is not None:
            data = np.where(ok[:, None], data, F32(0))
        return data, np.ones(times.shape, bool)

    def __str__(self):
        return f"IfDefined({self.src})"


@dataclass(frozen=True)
class Const(Descriptor):
    value: float
    size: int

    def dim(self, node_dim):
        return self.size

    def evaluate(self, times, value):
        return (np.full((times.size, self.size), self.value, F32), np.ones(times.shape, bool))

    def __str__(self):
        return f"Const({self.value:g}, {self.size})"


@dataclass(frozen=True)
class _Nary(Descriptor):
    parts: tuple[Descriptor, ...]

    def children(self):
        return self.parts

    def _same_dim(self, node_dim) -> int:
        dims = {p.dim(node_dim) for p in self.parts}
        if len(dims) != 1:
            raise DescriptorError(f"{type(self).__name__}() of parts with dimensions "
                                  f"{sorted(dims)}: {self}")
        return dims.pop()

    def __str__(self):
        return f"{type(self).__name__}({', '.join(map(str, self.parts))})"


class Append(_Nary):
    def dim(self, node_dim):
        return sum(p.dim(node_dim) for p in self.parts)

    def evaluate(self, times, value):
        results = [p.evaluate(times, value) for p in self.parts]
        ok = np.logical_and.reduce([r[1] for r in results])
        if results[0][0] is None:
            return None, ok
        return np.concatenate([r[0] for r in results], axis=1), ok


class Sum(_Nary):
    def dim(self, node_dim):
        return self._same_dim(node_dim)

    def evaluate(self, times, value):
        results = [p.evaluate(times, value) for p in self.parts]
        ok = np.logical_and.reduce([r[1] for r in results])
        if results[0][0] is None:
            return None, ok
        total = results[0][0]
        for r in results[1:]:
            total = total + r[0]
        return total, ok


class Failover(_Nary):
    def dim(self, node_dim):
        return self._same_dim(node_dim)

    def evaluate(self, times, value):
        (a, ok_a), (b, ok_b) = (p.evaluate(times, value) for p in self.parts)
        data = None if a is None else np.where(ok_a[:, None], a, b)
        return data, ok_a | ok_b


class Switch(_Nary):
    def dim(self, node_dim):
        return self._same_dim(node_dim)

    def modulus(self):
        return math.lcm(len(self.parts), super().modulus())

    def _select(self, times):
        which = np.mod(times, len(self.parts))
        return [(i, which == i) for i in range(len(self.parts))]

    def demand(self, times, need):
        for i, sel in self._select(times):
            self.parts[i].demand(times[sel], need)

    def evaluate(self, times, value):
        ok = np.zeros(times.shape, bool)
        data = None
        for i, sel in self._select(times):
            d, o = self.parts[i].evaluate(times[sel], value)
            ok[sel] = o
            if d is not None:
                if data is None:
                    data = np.zeros((times.size, d.shape[1]), F32)
                data[sel] = d
        return data, ok


# -- parsing ---------------------------------------------------------------------------------

def tokenize(text: str) -> list[str]:
    """``DescriptorTokenize``: names, numbers, and ``(``, ``)``, ``,`` apart."""
    tokens = []
    for tok in re.findall(r"[(),]|[^\s(),]+", text):
        if tok not in "(),":
            if not is_valid_name(tok) and not _is_number(tok):
                raise DescriptorError(f"cannot read {tok[:30]!r} in descriptor {text[:80]!r}")
        tokens.append(tok)
    return tokens


def _is_number(tok: str) -> bool:
    try:
        return math.isfinite(float(tok))
    except ValueError:
        return False


class _Parser:
    def __init__(self, text: str, node_names: set[str]):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.node_names = node_names

    def fail(self, what: str) -> DescriptorError:
        return DescriptorError(f"{what} in descriptor {self.text[:120]!r}")

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.fail("unexpected end")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, tok: str) -> None:
        found = self.next()
        if found != tok:
            raise self.fail(f"expected {tok!r}, found {found!r}")

    def integer(self) -> int:
        tok = self.next()
        if not re.fullmatch(r"[-+]?\d{1,9}", tok):
            raise self.fail(f"expected an integer, found {tok!r}")
        return int(tok)

    def number(self) -> float:
        tok = self.next()
        if not _is_number(tok):
            raise self.fail(f"expected a number, found {tok!r}")
        return float(tok)

    def parse(self, depth: int = 0) -> Descriptor:
        if depth > MAX_DEPTH:
            raise self.fail(f"expressions nested more than {MAX_DEPTH} deep")
        tok = self.next()
        if tok not in KEYWORDS:
            if tok not in self.node_names:
                raise self.fail(f"no node named {tok!r}")
            return NodeName(tok)
        self.expect("(")
        if tok in ("Append", "Sum", "Switch"):
            parts = [self.parse(depth + 1)]
            while self.next() == ",":
                parts.append(self.parse(depth + 1))
            self.pos -= 1
            self.expect(")")
            return {"Append": Append, "Sum": Sum, "Switch": Switch}[tok](tuple(parts))
        if tok in ("IfDefined", "Failover"):
            parts = [self.parse(depth + 1)]
            if tok == "Failover":
                self.expect(",")
                parts.append(self.parse(depth + 1))
            self.expect(")")
            return IfDefined(parts[0]) if tok == "IfDefined" else Failover(tuple(parts))
        if tok in ("Scale", "Const"):
            number = self.number()
            self.expect(",")
            if tok == "Const":
                size = self.integer()
                if size <= 0:
                    raise self.fail(f"Const() needs a positive dimension, found {size}")
                self.expect(")")
                return Const(number, size)
            src = self.parse(depth + 1)
            self.expect(")")
            return Scale(src, number)
        src = self.parse(depth + 1)
        self.expect(",")
        if tok == "Offset":
            t = self.integer()
            if self.next() == ",":
                if self.integer() != 0:
                    raise self.fail("Offset() in x is not supported (networks without x)")
            else:
                self.pos -= 1
            self.expect(")")
            return Offset(src, t)
        if tok == "Round":
            m = self.integer()
            if m <= 0:
                raise self.fail(f"Round() needs a positive modulus, found {m}")
            self.expect(")")
            return Round(src, m)
        variable = self.next()  # ReplaceIndex
        if variable not in ("t", "x"):
            raise self.fail(f"ReplaceIndex() replaces t or x, not {variable!r}")
        self.expect(",")
        v = self.integer()
        if variable == "x" and v != 0:
            raise self.fail("ReplaceIndex(..., x, nonzero) is not supported")
        self.expect(")")
        return ReplaceIndex(src, variable, v)


def parse_descriptor(text: str, node_names: set[str]) -> Descriptor:
    """Parse ``text``; names must be among ``node_names`` (input, component and dim-range
    nodes). Raises :class:`DescriptorError`."""
    p = _Parser(text, node_names)
    d = p.parse()
    if p.pos != len(p.tokens):
        raise p.fail(f"unexpected {p.tokens[p.pos]!r} after the end")
    return d
