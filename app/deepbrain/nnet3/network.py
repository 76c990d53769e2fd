"""An nnet3 network: nodes from the config lines, components, and the network interface.

Read from a raw nnet3 (``<Nnet3>``) or a ``final.mdl`` (a ``TransitionModel``, the nnet3, the
left/right context and the priors), binary or text, as ``Nnet::Read`` and
``AmNnetSimple::Read`` do. The config part (text lines, in binary files too) is parsed as
``Nnet::ReadConfig`` parses it: ``input-node``, ``component-node``, ``output-node`` and
``dim-range-node`` lines of ``key=value`` pairs, names checked, every value used.

Hidden layers are the outputs of the nonlinearity component nodes (ReLU, sigmoid, tanh,
p-norm) that the node ``output`` depends on, in config order: ``tdnn1.relu``, ``tdnnf2.relu``,
... ``prefinal-chain.relu`` in a TDNN-F chain model. The ``output-xent`` branch is not on the
way to ``output``, so its nonlinearities are not layers.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import FormatError
from ..kaldi_formats import KaldiStream, KaldiWriter
from .component_io import read_component, write_component
from .components import Component
from .descriptors import Descriptor, DescriptorError, is_valid_name, parse_descriptor
from .transition import TransitionModel, read_transition_model

KEYS = {"input-node": {"name", "dim"},
        "component-node": {"name", "component", "input"},
        "output-node": {"name", "input", "objective"},
        "dim-range-node": {"name", "input-node", "dim", "dim-offset"}}
MAX_COMPONENTS = 100000  # Nnet::Read's own limit
MAX_DIM = 1 << 20  # no real layer comes near; a corrupt <Dim> must not allocate gigabytes


@dataclass(frozen=True)
class Node:
    """``kind``: input, component, dim-range or output. ``descriptor`` is a component node's
    input or an output node's; ``source``/``offset`` belong to dim-range nodes."""

    name: str
    kind: str
    dim: int = 0
    descriptor: Optional[Descriptor] = None
    component: str = ""
    source: str = ""
    offset: int = 0


@dataclass(frozen=True, eq=False)
class Nnet3:
    """An nnet3 network and where it came from. ``frame_subsampling_factor`` is not in the file:
    the model dir says it (``frame_subsampling_factor``, Vosk's ``conf/model.conf``)."""

    nodes: tuple[Node, ...]
    components: Mapping[str, Component]
    source: str = ""
    priors: Optional[np.ndarray] = None
    transition_model: Optional[TransitionModel] = None
    frame_subsampling_factor: int = 1
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def node(self, name: str) -> Node:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def has_node(self, name: str) -> bool:
        return name in self._by_name

    def node_dim(self, name: str) -> int:
        n = self._by_name[name]
        if n.kind == "component":
            return self.components[n.component].output_dim
        if n.kind == "output":
            return n.descriptor.dim(self.node_dim)
        return n.dim

    def dependencies(self, name: str) -> set[str]:
        n = self._by_name[name]
        if n.kind in ("component", "output"):
            return n.descriptor.nodes()
        return {n.source} if n.kind == "dim-range" else set()

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Non-output nodes, each after the nodes it depends on."""
        return _topological(self)

    @cached_property
    def modulus(self) -> int:
        """``Nnet::Modulus``: time shifts that leave the network unchanged are multiples."""
        return math.lcm(1, *(n.descriptor.modulus() for n in self.nodes if n.descriptor))

    def ancestors(self, name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for d in self.dependencies(todo.pop()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    # -- the network interface -------------------------------------------------------------

    @cached_property
    def layer_names(self) -> tuple[str, ...]:
        """Hidden layers: nonlinearity nodes that ``output`` depends on, in config order."""
        up = self.ancestors("output")
        return tuple(n.name for n in self.nodes if n.kind == "component" and n.name in up
                     and self.components[n.component].nonlinearity)

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return tuple(self.node_dim(n) for n in self.layer_names)

    @property
    def input_dim(self) -> int:
        return self.node_dim("input")

    @property
    def ivector_dim(self) -> int:
        return self.node_dim("ivector") if self.has_node("ivector") else 0

    @property
    def output_dim(self) -> int:
        return self.node_dim("output")

    @property
    def left_context(self) -> int:
        return self.context(("output",))[0]

    @property
    def right_context(self) -> int:
        return self.context(("output",))[1]

    def context(self, nodes: Sequence[str]) -> tuple[int, int]:
        """``ComputeSimpleNnetContext`` of the network whose output is Append(nodes)."""
        from .compute import simple_context

        key = ("context", tuple(nodes))
        if key not in self._cache:
            self._cache[key] = simple_context(self, tuple(nodes))
        return self._cache[key]

    def layer_numbers(self, layers: Sequence[int | str]) -> tuple[int, ...]:
        """1-based layer numbers from numbers or node names (``--layers 3,tdnnf5.relu``)."""
        out = []
        for k in layers:
            if isinstance(k, str) and not k.isdigit():
                if k not in self.layer_names:
                    raise FormatError(f"{self.source}: no hidden layer named {k!r}; its layers "
                                      f"are {', '.join(self.layer_names)}")
                out.append(self.layer_names.index(k) + 1)
            else:
                out.append(int(k))
        return tuple(out)

    def propagate_layers(self, feats: np.ndarray, layers: Sequence[int], output: bool = False,
                         ivectors: Optional[np.ndarray] = None, ivector_period: int = 10,
                         frames_per_chunk: int = 50
                         ) -> tuple[dict[int, np.ndarray], Optional[np.ndarray]]:
        """Hidden layers (1-based number -> frames x units, float32) and, with ``output``, the
        network output, at every input frame, as ``nnet3-compute`` computes them with its
        defaults (``--frames-per-chunk=50``, no extra context, ``--frame-subsampling-factor=1``)
        from ``ivectors`` given every ``ivector_period`` frames (``--online-ivectors``)."""
        from .compute import compute_nodes

        numbers = tuple(layers)
        for k in numbers:
            if not 1 <= k <= len(self.layer_names):
                raise FormatError(f"{self.source}: has {len(self.layer_names)} hidden layers, "
                                  f"layer {k} was asked for")
        names = [self.layer_names[k - 1] for k in dict.fromkeys(numbers)]
        if output:
            names.append("output")
        values = compute_nodes(self, feats, names, ivectors, ivector_period, frames_per_chunk)
        hidden = {k: values[self.layer_names[k - 1]] for k in numbers}
        return hidden, (values["output"] if output else None)


# -- reading ---------------------------------------------------------------------------------

def read_nnet3(path: str | os.PathLike, frame_subsampling_factor: int = 1) -> Nnet3:
    """A ``final.mdl`` or a raw nnet3 network, binary or text."""
    s = KaldiStream.open(path)
    first = s.peek_token()
    transition = priors = None
    if first == "<TransitionModel>":
        transition = read_transition_model(s)
    elif first != "<Nnet3>":
        what = "an nnet1 network" if first.lower() == "<nnet>" else f"starts with {first[:30]!r}"
        raise FormatError(f"{path}: not an nnet3 model or network ({what}); deepbrain reads "
                          f"nnet3 final.mdl and .raw files here")
    lines, components = _read_raw(s)
    if transition is not None:
        s.expect_token("<LeftContext>")
        s.read_int()
        s.expect_token("<RightContext>")
        s.read_int()
        s.expect_token("<Priors>")
        priors = s.read_vector()
    nodes = _parse_config(lines, components, str(path))
    net = Nnet3(nodes, components, str(path), priors if priors is not None and priors.size
                else None, transition, frame_subsampling_factor)
    _check(net)
    return net


def build_nnet3(config: str, components: Mapping[str, Component], source: str = "<config>",
                frame_subsampling_factor: int = 1) -> Nnet3:
    """A network from config lines (as in an nnet3 file) and trained components."""
    nodes = _parse_config(config.splitlines(), dict(components), source)
    net = Nnet3(nodes, dict(components), source, None, None, frame_subsampling_factor)
    _check(net)
    return net


def _read_raw(s: KaldiStream) -> tuple[list[str], dict[str, Component]]:
    s.expect_token("<Nnet3>")
    if s.read_line().strip():
        raise s.fail("expected a newline after <Nnet3>")
    lines = []
    while True:
        line = s.read_line()
        if line == "":
            break
        lines.append(line)
    s.expect_token("<NumComponents>")
    count = s.read_int()
    if not 0 <= count < MAX_COMPONENTS:
        raise s.fail(f"implausible number of components {count}")
    components: dict[str, Component] = {}
    for _ in range(count):
        s.expect_token("<ComponentName>")
        name = s.read_token()
        if not is_valid_name(name) or name in components:
            raise s.fail(f"bad or repeated component name {name[:40]!r}")
        components[name] = read_component(s, name)
    s.expect_token("</Nnet3>")
    return lines, components


def parse_config_line(line: str) -> tuple[str, dict[str, str]]:
    """``ConfigLine::ParseLine``: a first token, then key=value pairs; a value runs up to the
    space before the next ``=``'s key, so ``input=Append(a, b)`` needs no quotes."""
    m = re.match(r"\s*([^\s=]+)(?=\s|$)", line)
    if not m or not is_valid_name(m.group(1)):
        raise ValueError("no line type")
    first, pos, pairs = m.group(1), m.end(), {}
    while pos < len(line):
        if line[pos].isspace():
            pos += 1
            continue
        eq = line.find("=", pos)
        key = line[pos:eq] if eq > pos else ""
        if not is_valid_name(key):
            raise ValueError(f"expected key=value at {line[pos:pos + 20]!r}")
        nxt = line.find("=", eq + 1)
        end = len(line)
        if nxt >= 0:
            space = max(line.rfind(" ", eq + 1, nxt), line.rfind("\t", eq + 1, nxt))
            if space > eq:
                end = space
        pairs.setdefault(key, line[eq + 1:end].strip())
        pos = end
    return first, pairs


def _config_lines(lines: list[str], source: str) -> list[tuple[str, dict[str, str], str]]:
    out = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            kind, pairs = parse_config_line(line)
        except ValueError as e:
            raise FormatError(f"{source}: cannot parse config line {line[:80]!r} ({e})") from None
        if kind == "component":
            raise FormatError(f"{source}: a 'component' line in the network's config part: this "
                              f"is an nnet3 config, not a trained network (nnet3-init makes one)")
        if kind not in KEYS:
            raise FormatError(f"{source}: unknown config line type {kind[:30]!r}")
        unused = set(pairs) - KEYS[kind]
        missing = KEYS[kind] - set(pairs) - {"objective"}
        if unused or missing:
            raise FormatError(f"{source}: config line {line[:80]!r}: "
                              + (f"unexpected {', '.join(sorted(unused))}" if unused else
                                 f"missing {', '.join(sorted(missing))}"))
        if not is_valid_name(pairs["name"]):
            raise FormatError(f"{source}: node name {pairs['name'][:40]!r} is not allowed")
        out.append((kind, pairs, line))
    return out


def _int(pairs: dict[str, str], key: str, line: str, source: str) -> int:
    if not re.fullmatch(r"[-+]?\d{1,9}", pairs[key]):
        raise FormatError(f"{source}: {key}={pairs[key][:20]} is not an integer in {line[:80]!r}")
    return int(pairs[key])


def _parse_config(lines: list[str], components: dict[str, Component], source: str
                  ) -> tuple[Node, ...]:
    parsed = _config_lines(lines, source)
    names = [p["name"] for _, p, _ in parsed]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise FormatError(f"{source}: node {dup} is defined twice")
    referable = {p["name"] for k, p, _ in parsed if k != "output-node"}
    nodes = []
    for kind, p, line in parsed:
        try:
            if kind == "input-node":
                nodes.append(Node(p["name"], "input", dim=_int(p, "dim", line, source)))
            elif kind == "dim-range-node":
                nodes.append(Node(p["name"], "dim-range", dim=_int(p, "dim", line, source),
                                  source=p["input-node"],
                                  offset=_int(p, "dim-offset", line, source)))
            elif kind == "output-node":
                if p.get("objective", "linear") not in ("linear", "quadratic"):
                    raise FormatError(f"{source}: bad objective in {line[:80]!r}")
                nodes.append(Node(p["name"], "output",
                                  descriptor=parse_descriptor(p["input"], referable)))
            else:
                if p["component"] not in components:
                    raise FormatError(f"{source}: no component named {p['component'][:40]!r} "
                                      f"(config line {line[:80]!r})")
                nodes.append(Node(p["name"], "component", component=p["component"],
                                  descriptor=parse_descriptor(p["input"], referable)))
        except DescriptorError as e:
            raise FormatError(f"{source}: {e}") from None
    return tuple(nodes)


def _check(net: Nnet3) -> None:
    """``Nnet::Check``: dimensions agree; plus what deepbrain needs to run the network."""
    src = net.source
    for n in net.nodes:
        if n.kind == "input" and not 0 < n.dim <= MAX_DIM:
            raise FormatError(f"{src}: input node {n.name} has dimension {n.dim}")
        if n.kind == "dim-range":
            if not net.has_node(n.source) or net.node(n.source).kind not in ("input", "component"):
                raise FormatError(f"{src}: dim-range node {n.name} reads {n.source!r}, which is "
                                  f"not an input or component node")
            if n.dim <= 0 or n.offset < 0 or n.offset + n.dim > net.node_dim(n.source):
                raise FormatError(f"{src}: dim-range node {n.name} takes dims {n.offset}.."
                                  f"{n.offset + n.dim - 1} of {n.source}")
    order = net.order  # raises on recurrence
    for n in (net.node(name) for name in order):
        if n.kind != "component":
            continue
        comp = net.components[n.component]
        try:
            dim = n.descriptor.dim(net.node_dim)
        except DescriptorError as e:
            raise FormatError(f"{src}: {e}") from None
        if comp.output_dim > MAX_DIM:
            raise FormatError(f"{src}: component {n.component} has an implausible dimension "
                              f"{comp.output_dim}")
        if dim != comp.input_dim:
            raise FormatError(f"{src}: component node {n.name} gets {dim}-dimensional input but "
                              f"its component {n.component} ({comp.kind}) takes {comp.input_dim}")
    for name, want in (("input", "input-node"), ("output", "output-node")):
        if not net.has_node(name) or net.node(name).kind != want.split("-")[0]:
            raise FormatError(f"{src}: has no {want} named {name}; deepbrain runs networks with "
                              f"an 'input' (and optionally 'ivector') and an 'output'")
    try:
        net.node_dim("output")
    except DescriptorError as e:
        raise FormatError(f"{src}: {e}") from None
    extra = [n.name for n in net.nodes if n.kind == "input" and n.name not in ("input", "ivector")
             and n.name in net.ancestors("output")]
    if extra:
        raise FormatError(f"{src}: output needs input node(s) {', '.join(extra)}; deepbrain "
                          f"feeds only 'input' and 'ivector'")


def _topological(net: Nnet3) -> tuple[str, ...]:
    state: dict[str, int] = {}
    order: list[str] = []
    for start in (n.name for n in net.nodes if n.kind != "output"):
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(sorted(net.dependencies(start))))]
        while stack:
            name, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                state[name] = 2
                order.append(name)
            elif state.get(dep) == 1:
                raise FormatError(f"{net.source}: node {dep} depends on itself (a recurrent "
                                  f"network, e.g. LSTM); deepbrain computes TDNN and DNN models")
            elif dep not in state:
                state[dep] = 1
                stack.append((dep, iter(sorted(net.dependencies(dep)))))
    return tuple(order)


# -- writing ---------------------------------------------------------------------------------

def config_line(n: Node) -> str:
    """The node as ``Nnet::GetAsConfigLine`` writes it (without dims)."""
    if n.kind == "input":
        return f"input-node name={n.name} dim={n.dim}"
    if n.kind == "output":
        return f"output-node name={n.name} input={n.descriptor} objective=linear"
    if n.kind == "dim-range":
        return (f"dim-range-node name={n.name} input-node={n.source} dim-offset={n.offset} "
                f"dim={n.dim}")
    return f"component-node name={n.name} component={n.component} input={n.descriptor}"


def nnet3_bytes(net: Nnet3, binary: bool = True) -> bytes:
    """The raw network as ``Nnet::Write`` writes it (what ``nnet3-copy`` of a .raw gives)."""
    w = KaldiWriter(binary)
    w.token("<Nnet3>")
    w.text("\n" + "".join(config_line(n) + "\n" for n in net.nodes) + "\n")
    w.token("<NumComponents>")
    w.int(len(net.components))
    w.newline()
    for name, comp in net.components.items():
        w.token("<ComponentName>")
        w.token(name)
        write_component(w, comp)
        w.newline()
    w.token("</Nnet3>")
    w.newline()
    return w.getvalue()
