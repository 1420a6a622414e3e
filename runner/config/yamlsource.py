"""YAML in one place: safe loading that keeps the line and column of every value.

``load_yaml`` returns plain Python data plus a :class:`Positions` map from document
paths (tuples of keys and indexes) to 1-based ``(line, column)``, so every later check
can point at the exact spot. Duplicate keys, tabs and syntax errors become
:class:`~runner.errors.Diagnostic` objects, never tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.config.yaml12 import LOADERS, PurePythonLoader, dump
from runner.errors import ConfigError, Diagnostic

DocPath = tuple[str | int, ...]


#: Monkeypatched by tests to run every check under both loaders.
_Loader: type[Any] = LOADERS.get("libyaml", PurePythonLoader)


def format_path(path: DocPath) -> str:
    """``("steps", 2, "models", 0)`` -> ``steps[2].models[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Positions:
    """Where each value (and each mapping key) sits in the source file."""

    file: str
    values: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DocPath, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: DocPath, *, key: bool = False) -> tuple[int, int]:
        """Position of ``path`` (its key when ``key``); falls back to the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diagnostic(self, path: DocPath, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.of(path, key=key)
        return Diagnostic(self.file, line, col, format_path(path), message)


@dataclass
class YamlDocument:
    data: Any
    positions: Positions
    text: str

    @property
    def file(self) -> str:
        return self.positions.file


def _mark(node: yaml.Node | yaml.Event) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


_CONSTRUCTOR = PurePythonLoader("")

#: Deeper nesting than this is certainly a mistake, and libyaml's composer would
#: recurse in C (a segfault, not an exception) on pathological input.
MAX_DEPTH = 100
#: Aliases can expand a small file into a huge document ("billion laughs").
MAX_VALUES = 100_000


class _TooLarge(Exception):
    """Raised when alias expansion passes MAX_VALUES (the build is abandoned)."""

    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _Builder:
    """Builds plain data from a node graph, recording positions and problems."""

    def __init__(self, pos: Positions) -> None:
        self.pos = pos
        self.errors: list[Diagnostic] = []
        self.count = 0
        #: Collection nodes being built right now: an alias back to one is a cycle.
        self.open: set[int] = set()

    def error(self, node: yaml.Node, path: DocPath, message: str) -> None:
        line, col = _mark(node)
        self.errors.append(Diagnostic(self.pos.file, line, col, format_path(path), message))

    def build(self, node: yaml.Node, path: DocPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge(node)
        if id(node) in self.open:
            self.error(node, path, "an alias refers to the value that contains it (a cycle)")
            return None
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return self.scalar(node, path)
        self.open.add(id(node))
        try:
            return self.collection(node, path)
        finally:
            self.open.discard(id(node))

    def scalar(self, node: yaml.Node, path: DocPath, *, is_key: bool = False) -> Any:
        if not is_key:  # a key's position is recorded under the path it leads to
            self.pos.values[path] = _mark(node)
        try:
            return _CONSTRUCTOR.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error(node, path, _problem(exc))
        except (ValueError, TypeError, OverflowError, LookupError, AttributeError) as exc:
            # A scalar whose text does not fit its (implicit or explicit) tag: 2024-13-01,
            # "!!int" with no digits. PyYAML's constructors fail with assorted built-in
            # errors then; only ValueError's text is worth showing.
            detail = f" ({exc})" if type(exc) is ValueError else ""
            self.error(
                node,
                path,
                f"{node.value!r} is not a valid {_tag_name(node)}{detail}; "
                "put it in quotes to keep it as text",
            )
        return None

    def collection(self, node: yaml.MappingNode | yaml.SequenceNode, path: DocPath) -> Any:
        self.pos.values[path] = _mark(node)
        if node.tag not in _COLLECTION_TAGS:
            # Safe loading would refuse it too (e.g. !!python/object/apply:...).
            self.error(node, path, f"unsupported YAML tag {node.tag!r}; remove it")
            return None
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        result: dict[Any, Any] = {}
        for key_node, value_node in _merged_pairs(node, path, self):
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(
                    key_node, path, "a key must be a plain word or number, not a list or mapping"
                )
                continue
            reported = len(self.errors)
            key = self.scalar(key_node, path, is_key=True)
            if len(self.errors) > reported:
                continue
            if key is None or not isinstance(key, str | int | float | bool):
                self.error(
                    key_node,
                    path,
                    f"{key_node.value!r} cannot be a key; use a plain word or number",
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in result:
                first_line, _ = self.pos.keys[child]
                self.error(
                    key_node,
                    child,
                    f"duplicate key {key!r} (first defined on line "
                    f"{first_line}); remove one of them",
                )
                continue
            self.pos.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result


_COLLECTION_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "set", "omap", "pairs")
)
_TAG_NAMES = {"timestamp": "date", "int": "whole number", "float": "number", "bool": "boolean"}


def _tag_name(node: yaml.Node) -> str:
    tag = str(node.tag).rsplit(":", 1)[-1]
    return _TAG_NAMES.get(tag, tag)


def _merged_pairs(
    node: yaml.MappingNode, path: DocPath, builder: _Builder
) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """Key/value node pairs, expanding YAML merge keys (``<<: *defaults``)."""
    explicit = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
    explicit_keys = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if id(source) in builder.open:
                builder.error(source, path, "a mapping cannot merge itself ('<<')")
                continue
            if not isinstance(source, yaml.MappingNode):
                builder.error(source, path, "'<<' merges mappings only (e.g. <<: *defaults)")
                continue
            builder.open.add(id(source))
            for k, v in _merged_pairs(source, path, builder):
                if isinstance(k, yaml.ScalarNode) and k.value not in explicit_keys:
                    explicit_keys.add(k.value)
                    yield k, v
            builder.open.discard(id(source))
    yield from explicit


_TAB_MESSAGE = "YAML syntax error: tab characters cannot indent YAML; use spaces"

#: PyYAML's parser context -> what the user should look for (the C and pure-Python
#: loaders word their problems differently but share these contexts).
_CONTEXT_HINTS = {
    "while parsing a block mapping": "this line is not indented like the mapping that "
    "starts at {where}; check the indentation",
    "while parsing a block collection": "this line is not indented like the list that "
    "starts at {where}; check the indentation",
    "while parsing a flow sequence": "the '[' at {where} is not closed by ']' "
    "(or a ',' is missing between items)",
    "while parsing a flow mapping": "the '{{' at {where} is not closed by '}}' "
    "(or a ',' is missing between entries)",
    "while scanning a quoted scalar": "the quoted text that starts at {where} is not "
    "closed, or holds an invalid escape",
    "expected a single document in the stream": "the file holds more than one YAML "
    "document ('---'); a mediamix file holds exactly one",
}


def _problem(exc: yaml.YAMLError) -> str:
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if "\\t" in problem or re.search(r"\btab\b", problem):
        return _TAB_MESSAGE
    if problem.startswith("mapping values are not allowed"):
        return (
            "YAML syntax error: unexpected ':' (a value that contains ': ' must be quoted, "
            "and a nested mapping starts on its own, more indented line)"
        )
    hint = _CONTEXT_HINTS.get(str(context))
    if hint and context_mark is not None:
        where = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
        return f"YAML syntax error: {hint.format(where=where)}"
    text = f"{context}: {problem}" if context else problem
    return f"YAML syntax error: {text}"


def _check_depth(text: str, file: str) -> None:
    """Refuse absurdly deep nesting before composing (see MAX_DEPTH).

    libyaml 0.2.5+ (bundled in PyYAML 6.0.2+ wheels) refuses nesting past 1,000 levels
    with its own wording, and its scanner reads a flow collection's tokens ahead of the
    events this loop sees. So when it speaks first, the depth is measured again with the
    pure-Python parser, which has no such limit and never recurses, and mediamix's own
    message (at the level that crossed MAX_DEPTH) is what the user reads.
    """
    try:
        _check_depth_with(text, file, _Loader)
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" not in str(exc.problem) or _Loader is PurePythonLoader:
            raise
        _check_depth_with(text, file, PurePythonLoader)
        raise


def _check_depth_with(text: str, file: str, loader: type[Any]) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line, col = _mark(event)
                message = f"values are nested more than {MAX_DEPTH} levels deep"
                raise ConfigError([Diagnostic(file, line, col, "", message)])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse YAML text; raises ConfigError listing every problem found."""
    pos = Positions(file)
    try:
        _check_depth(text, file)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = _problem(exc)
        lines = text.splitlines()
        if 0 < line <= len(lines) and "\t" in lines[line - 1][: col + 1]:
            message = _TAB_MESSAGE
        raise ConfigError([Diagnostic(file, line, col, "", message)]) from exc
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - before.rfind("\n")
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"YAML syntax error: control character U+{code:04X} is not allowed in YAML"
        raise ConfigError([Diagnostic(file, line, col, "", message)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file, 1, 1, "", _problem(exc))]) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([Diagnostic(file, 1, 1, "", f"cannot read file: {exc}")]) from exc
    if node is None:
        return YamlDocument(None, pos, text)
    builder = _Builder(pos)
    try:
        data = builder.build(node, ())
    except _TooLarge as exc:
        line, col = _mark(exc.node)
        message = f"the document expands to more than {MAX_VALUES} values (through aliases)"
        raise ConfigError([Diagnostic(file, line, col, "", message)]) from None
    if builder.errors:
        raise ConfigError(builder.errors)
    return YamlDocument(data, pos, text)


def load_yaml(path: Path) -> YamlDocument:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        message = f"cannot read file: {exc.strerror}"
        raise ConfigError([Diagnostic(str(path), 1, 1, "", message)]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Point at the offending byte: editors show line and column, not offsets.
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        message = (
            f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded); "
            "save it as UTF-8"
        )
        raise ConfigError([Diagnostic(str(path), line, column, "", message)]) from exc
    return parse_yaml(text, str(path))


def dump_yaml(data: Any, *, allow_unicode: bool = True) -> str:
    """YAML text that reads back as exactly ``data`` in mediamix, editors and YAML 1.1."""
    return dump(data, sort_keys=False, allow_unicode=allow_unicode)
