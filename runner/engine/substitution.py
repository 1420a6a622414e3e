"""Templates that only substitute names, rendered without Jinja's machinery.

Most prompts are text with a few ``{{ item }}`` or ``{{ inputs.topic }}`` in it, rendered
once per job: a batch of 100,000 rows renders 100,000 of them. Jinja renders each through
a new context, a budget and a generator, about 20 µs a render; a template of text and
plain names needs none of that. :func:`substitution` reads a template's tree once and, when
it holds only text, names and ``.attribute`` lookups, returns a :class:`Substitution`
that renders it by lookup and ``str()``, exactly as Jinja's compiled code does. Anything
it is not sure of (a name missing from the context, a lookup the sandbox would handle
differently, output past the size bound) returns None, and the caller renders with Jinja,
which then produces the same text or raises the same error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import nodes

#: A name followed by attribute lookups: ``inputs.row.topic`` is ("inputs", "row", "topic").
Lookup = tuple[str, ...]

#: What a lookup answers when it is not sure.
_UNSURE = object()


class Names:
    """Read-only names for templates: ``inputs.items`` means the input called "items".

    A plain dict would answer ``inputs.items`` with its own ``.items`` method, so
    templates see this wrapper, which has no methods of its own to shadow a name.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(dict(self._data))


class Substitution:
    """Text and lookups, in order."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str | Lookup, ...]) -> None:
        self.parts = parts

    def render(self, names: Mapping[str, Any], most_chars: int) -> str | None:
        """The rendered text, stripped as :func:`runner.engine.templating.render` strips
        it; None when Jinja must decide (a missing name, a lookup of another kind, output
        over ``most_chars``)."""
        pieces: list[str] = []
        total = 0
        for part in self.parts:
            if isinstance(part, str):
                piece = part
            else:
                value = _look_up(names, part)
                if value is _UNSURE:
                    return None
                piece = str(value)
            total += len(piece)
            if total > most_chars:
                return None  # Jinja stops it with the size bound's message
            pieces.append(piece)
        return "".join(pieces).strip()


def _look_up(names: Mapping[str, Any], lookup: Lookup) -> Any:
    value = names.get(lookup[0], _UNSURE)
    for attribute in lookup[1:]:
        if value is _UNSURE:
            return _UNSURE
        value = _attribute(value, attribute)
    # Jinja's Undefined (and anything like it) renders its own way, or raises.
    if value is _UNSURE or not isinstance(value, _PLAIN):
        return _UNSURE
    return value


def _attribute(value: Any, attribute: str) -> Any:
    """``value.attribute`` as the sandbox answers it, for the values prompts look into:
    Names (inputs, steps) and plain dicts (rows, ``run``, ``pipeline``). A dict answers
    with its key only when no attribute of that name exists (``row.items`` is the method
    in Jinja, so it is left to Jinja)."""
    if attribute.startswith("_"):
        return _UNSURE
    kind = type(value)
    if kind is Names:
        return value._data.get(attribute, _UNSURE)
    if kind is dict and not hasattr(dict, attribute):
        return value.get(attribute, _UNSURE)
    return _UNSURE


#: Values whose ``str()`` is plain data: what a row, an input or a step output holds.
_PLAIN = (str, int, float, list, dict, tuple, type(None))


def substitution(tree: nodes.Template) -> Substitution | None:
    """The template as text and lookups, or None when it does anything else."""
    parts: list[str | Lookup] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            lookup = _lookup_of(node)
            if lookup is None:
                return None
            parts.append(lookup)
    return Substitution(tuple(parts))


def _lookup_of(node: nodes.Node) -> Lookup | None:
    if type(node) is nodes.Name and node.ctx == "load":
        return (node.name,)
    if type(node) is nodes.Getattr and node.ctx == "load":
        owner = _lookup_of(node.node)
        return None if owner is None else (*owner, node.attr)
    return None
