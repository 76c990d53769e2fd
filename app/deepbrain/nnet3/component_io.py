"""Reading and writing nnet3 components, binary and text, as ``Component::ReadNew``/``Write``.

A component is ``<XComponent>`` then ``<Token> value`` pairs then ``</XComponent>``. Kaldi's own
``Read`` functions accept the opening tag a second time (``ExpectOneOrTwoTokens``), optional
tokens and, across Kaldi versions, tokens that came and went; reading the pairs in any order
against the class's ``FIELDS`` accepts all of those, and refuses a token it does not know by
name. Writing follows ``FIELDS`` in order, which is the order Kaldi's ``Write`` uses, so Kaldi
reads what we write.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..kaldi_formats import KaldiStream, KaldiWriter
from .components import COMPONENT_TYPES, Component, Field


def _read_value(s: KaldiStream, kind: str):
    if kind == "int":
        return s.read_int()
    if kind == "float":
        return s.read_float()
    if kind == "bool":
        return s.read_bool()
    if kind == "flag":
        return True
    if kind == "vector":
        return s.read_vector()
    if kind == "matrix":
        return s.read_matrix()
    if kind == "intvec":
        return s.read_int_vector()
    if kind == "int2":
        return (s.read_int(), s.read_int())
    if kind == "float2":
        return (s.read_float(), s.read_float())
    raise ValueError(f"unknown field kind {kind}")  # a bug in FIELDS, not in the file


def read_component(s: KaldiStream, name: str) -> Component:
    """The component after ``<ComponentName> name`` (its type token comes next)."""
    token = s.read_token()
    if not (len(token) > 2 and token[0] == "<" and token[-1] == ">"):
        raise s.fail(f"expected the type of component {name}, found {token[:40]!r}")
    kind = token[1:-1]
    cls = COMPONENT_TYPES.get(kind)
    if cls is None:
        raise FormatError(
            f"{s.source}: component {name} is a {kind}, which deepbrain cannot compute; it "
            f"reads {', '.join(sorted(COMPONENT_TYPES))}")
    fields = {f.token: f for f in cls.FIELDS}
    closing = f"</{kind}>"
    values: dict = {}
    extras: dict = {}
    first = True
    while True:
        tok = s.read_token()
        if tok == closing:
            break
        if first and tok == token:  # the opening tag may be written twice
            first = False
            continue
        first = False
        f = fields.get(tok)
        if f is None:
            raise s.fail(f"unexpected {tok[:40]} in {kind} {name}")
        value = _read_value(s, f.kind)
        if f.attr:
            values[f.attr] = value
        else:
            extras[tok] = value
    comp = cls(extras=extras, **values)
    comp.check(lambda what: FormatError(f"{s.source}: component {name}: {what}"))
    return comp


def _write_value(w: KaldiWriter, kind: str, value) -> None:
    if kind == "int":
        w.int(int(value))
    elif kind == "float":
        w.float(float(value))
    elif kind == "bool":
        w.bool(bool(value))
    elif kind == "vector":
        w.vector(np.asarray(value))
    elif kind == "matrix":
        w.matrix(np.asarray(value))
    elif kind == "intvec":
        w.int_vector(np.asarray(value))
    elif kind == "int2":
        w.int(int(value[0]))
        w.int(int(value[1]))
    elif kind == "float2":
        w.float(float(value[0]))
        w.float(float(value[1]))
    else:
        raise ValueError(f"unknown field kind {kind}")


def _field_value(c: Component, f: Field):
    value = getattr(c, f.attr) if f.attr else c.extras.get(f.token)
    if value is None and f.write == "always":
        if f.default is None:
            raise ValueError(f"{c.kind} needs a value for {f.token} to be written")
        value = f.default
    return value


def write_component(w: KaldiWriter, c: Component) -> None:
    """As ``c.Write``: the type token, the fields in Kaldi's order, the closing token."""
    w.token(f"<{c.kind}>")
    for f in c.FIELDS:
        if f.write == "never":
            continue
        value = _field_value(c, f)
        if value is None or (f.kind == "flag" and not value):
            continue
        w.token(f.token)
        if f.kind != "flag":
            _write_value(w, f.kind, value)
    w.token(f"</{c.kind}>")
