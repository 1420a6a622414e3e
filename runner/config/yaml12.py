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


class CoreSchemaDumper(yaml.SafeDumper):
    """SafeDumper that quotes every string YAML 1.2 would read as something else.

    PyYAML's dumper quotes by YAML 1.1 rules, so the string "1e5" or "0o17" went out
    plain and came back (under the core schema) as a number: what mediamix writes
    (accounts.yaml from ``accounts add`` and the HTTP API) must read back as written.
    """


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    resolved = CoreSchemaResolver().resolve(yaml.ScalarNode, data, (True, False))
    style = "'" if resolved != "tag:yaml.org,2002:str" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


CoreSchemaDumper.add_representer(str, _represent_str)
