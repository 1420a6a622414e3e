"""YAML 1.2 core-schema loaders: plain scalars resolved the way editors resolve them.

yaml-language-server (the engine of the YAML editor extensions) reads YAML 1.2, where
only ``true``/``false`` are booleans, ``yes``/``on``/``no``/``off`` and dates are text,
octal is ``0o17`` and ``017`` is seventeen. PyYAML's SafeLoader reads YAML 1.1 (``yes``
is true, ``2024-05-01`` a date, ``017`` fifteen), so what the editor accepted and what
mediamix accepted used to disagree. These loaders keep PyYAML's parsers (libyaml's when
present) and swap only how scalars are resolved and constructed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class CoreSchemaResolver(yaml.resolver.BaseResolver):
    """Plain scalars resolved as YAML 1.2's core schema does (timestamps stay text)."""


for _tag, _pattern, _first in (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    # Not in YAML 1.2, but editors accept it and presets use it: `<<: *defaults`.
    ("merge", r"<<", "<"),
):
    CoreSchemaResolver.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )

_DECIMAL = re.compile(r"[-+]?[0-9]+")


class CoreSchemaConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor with YAML 1.2 integers and booleans (also for explicit tags)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if _DECIMAL.fullmatch(text):
            return int(text, 10)
        if text[:2] == "0o" and len(text) > 2:
            return int(text[2:], 8)
        if text[:2] == "0x" and len(text) > 2:
            return int(text[2:], 16)
        raise ValueError("a whole number is digits, 0o... (octal) or 0x... (hex)")

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        text = str(self.construct_scalar(node))
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        raise ValueError("a boolean is true or false")


CoreSchemaConstructor.add_constructor(
    "tag:yaml.org,2002:int",
    CoreSchemaConstructor.construct_yaml_int,  # type: ignore[type-var]
)
CoreSchemaConstructor.add_constructor(
    "tag:yaml.org,2002:bool",
    CoreSchemaConstructor.construct_yaml_bool,  # type: ignore[type-var]
)


class PurePythonLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    CoreSchemaConstructor,
    CoreSchemaResolver,
):
    def __init__(self, stream: Any) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        CoreSchemaConstructor.__init__(self)
        CoreSchemaResolver.__init__(self)


#: The loaders mediamix reads YAML with; both give the same data and the same messages.
LOADERS: dict[str, type[Any]] = {"pure-python": PurePythonLoader}

# libyaml parses ~10x faster; some PyYAML builds lack it.
_CParser: Any = getattr(yaml, "cyaml", None) and getattr(yaml.cyaml, "CParser", None)

if _CParser is not None:

    class LibyamlLoader(_CParser, CoreSchemaConstructor, CoreSchemaResolver):
        def __init__(self, stream: Any) -> None:
            _CParser.__init__(self, stream)
            CoreSchemaConstructor.__init__(self)
            CoreSchemaResolver.__init__(self)

    LOADERS["libyaml"] = LibyamlLoader


_STR = "tag:yaml.org,2002:str"
_CORE_RESOLVER = CoreSchemaResolver()


class _EitherVersionResolver(yaml.resolver.Resolver):
    """For writing: a string that YAML 1.1 *or* 1.2 would read as something else (``yes``,
    ``0E0``, ``017``) is quoted, so the file reads back the same in mediamix, in editors
    and in tools still on YAML 1.1."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and tag == _STR:
            return _CORE_RESOLVER.resolve(kind, value, implicit)
        return tag


class EditorSafeDumper(
    yaml.emitter.Emitter,
    yaml.serializer.Serializer,
    yaml.representer.SafeRepresenter,
    _EitherVersionResolver,
):
    def __init__(self, stream: Any, **kwargs: Any) -> None:
        yaml.emitter.Emitter.__init__(
            self,
            stream,
            canonical=kwargs.get("canonical"),
            indent=kwargs.get("indent"),
            width=kwargs.get("width"),
            allow_unicode=kwargs.get("allow_unicode"),
            line_break=kwargs.get("line_break"),
        )
        yaml.serializer.Serializer.__init__(
            self,
            encoding=kwargs.get("encoding"),
            explicit_start=kwargs.get("explicit_start"),
            explicit_end=kwargs.get("explicit_end"),
            version=kwargs.get("version"),
            tags=kwargs.get("tags"),
        )
        yaml.representer.SafeRepresenter.__init__(
            self,
            default_style=kwargs.get("default_style"),
            default_flow_style=kwargs.get("default_flow_style", False),
            sort_keys=kwargs.get("sort_keys", True),
        )
        _EitherVersionResolver.__init__(self)


def dump(data: Any, *, sort_keys: bool = True, allow_unicode: bool = False) -> str:
    """YAML text for ``data`` that mediamix, editors and YAML 1.1 tools all read back as
    ``data``."""
    return yaml.dump(
        data, Dumper=EditorSafeDumper, sort_keys=sort_keys, allow_unicode=allow_unicode
    )
