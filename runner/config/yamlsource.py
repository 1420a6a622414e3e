"""YAML in one place: safe loading that keeps the line and column of every value.

``load_yaml`` returns plain Python data plus a :class:`Positions` map from document
paths (tuples of keys and indexes) to 1-based ``(line, column)``, so every later check
can point at the exact spot. Duplicate keys, tabs and syntax errors become
:class:`~runner.errors.Diagnostic` objects, never tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ConfigError, Diagnostic

try:  # The C loader is ~10x faster; fall back when libyaml is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

DocPath = tuple[str | int, ...]


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


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_CONSTRUCTOR = yaml.SafeLoader("")


def _construct(node: yaml.Node, path: DocPath, pos: Positions, errors: list[Diagnostic]) -> Any:
    pos.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in _merged_pairs(node):
            key = _construct(key_node, (*path, "<key>"), pos, errors)
            pos.values.pop((*path, "<key>"), None)
            if not isinstance(key, str | int | float | bool) or key is None:
                line, col = _mark(key_node)
                errors.append(
                    Diagnostic(pos.file, line, col, format_path(path), "keys must be plain scalars")
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in result:
                line, col = _mark(key_node)
                first_line, _ = pos.keys[child]
                errors.append(
                    Diagnostic(
                        pos.file,
                        line,
                        col,
                        format_path(child),
                        f"duplicate key {key!r} (first defined on line {first_line}); "
                        "remove one of them",
                    )
                )
                continue
            pos.keys[child] = _mark(key_node)
            result[key] = _construct(value_node, child, pos, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), pos, errors) for i, item in enumerate(node.value)]
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        line, col = _mark(node)
        errors.append(Diagnostic(pos.file, line, col, format_path(path), _problem(exc)))
        return None


def _merged_pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """Key/value node pairs, expanding YAML merge keys (``<<: *defaults``)."""
    explicit = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
    explicit_keys = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
    for key_node, value_node in node.value:
        if key_node.tag != "tag:yaml.org,2002:merge":
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                for k, v in _merged_pairs(source):
                    if isinstance(k, yaml.ScalarNode) and k.value not in explicit_keys:
                        explicit_keys.add(k.value)
                        yield k, v
    yield from explicit


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    if "\\t" in text or "tab" in text.lower():
        return "YAML syntax error: tab characters cannot indent YAML; use spaces"
    return f"YAML syntax error: {text}"


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse YAML text; raises ConfigError listing every problem found."""
    pos = Positions(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = _problem(exc)
        lines = text.splitlines()
        if 0 < line <= len(lines) and "\t" in lines[line - 1][: col + 1]:
            message = "YAML syntax error: tab characters cannot indent YAML; use spaces"
        raise ConfigError([Diagnostic(file, line, col, "", message)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file, 1, 1, "", _problem(exc))]) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([Diagnostic(file, 1, 1, "", f"cannot read file: {exc}")]) from exc
    if node is None:
        return YamlDocument(None, pos, text)
    errors: list[Diagnostic] = []
    data = _construct(node, (), pos, errors)
    if errors:
        raise ConfigError(errors)
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
        raise ConfigError(
            [Diagnostic(str(path), 1, 1, "", f"file is not UTF-8 text (byte {exc.start})")]
        ) from exc
    return parse_yaml(text, str(path))


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
