"""Property tests: no input, however broken, gets anything but a ConfigError out of
the config layer, and every diagnostic points inside the file it names.

Inputs: random text, YAML dumped from random data (generic and pipeline-shaped), and
the shipped files with typical editing accidents applied (a line deleted, duplicated
or re-indented, characters swapped, a tab inserted, the file cut short).
Set MEDIAMIX_FUZZ_EXAMPLES to run longer locally.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config.crosscheck import check_accounts, check_pipeline, check_preset
from runner.config.loader import accounts_from, pipeline_from, preset_from, project_from
from runner.config.project import Workspace, load_workspace_lenient
from runner.config.scaffold import ACCOUNTS_YAML, EXAMPLE_PRESET, PROJECT_YAML
from runner.config.schema_check import schema_diagnostics
from runner.config.validate import validate
from runner.config.yamlsource import YamlDocument, dump_yaml, parse_yaml
from runner.errors import ConfigError, Diagnostic

REPO = Path(__file__).resolve().parent.parent

settings.register_profile(
    "config-fuzz",
    max_examples=int(os.environ.get("MEDIAMIX_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
FUZZ = settings(settings.get_profile("config-fuzz"))
#: For properties that run a whole `validate` (about 15 ms) per example.
FUZZ_PROJECT = settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 2))

KIND_PLACE = {
    "preset": "presets/fuzzed.yaml",
    "pipeline": "pipelines/fuzzed.yaml",
    "accounts": "accounts.yaml",
    "project": "mediamix.yaml",
}

#: (kind, text) of every YAML file mediamix ships or `init` writes.
SHIPPED: list[tuple[str, str]] = [
    *(("preset", p.read_text(encoding="utf-8")) for p in sorted((REPO / "presets").glob("*.yaml"))),
    *(
        ("pipeline", p.read_text(encoding="utf-8"))
        for p in sorted((REPO / "pipelines").glob("*.yaml"))
    ),
    ("preset", EXAMPLE_PRESET),
    ("accounts", ACCOUNTS_YAML),
    ("project", PROJECT_YAML),
]


@cache
def _base_workspace() -> Workspace:
    """Built-in presets and the implicit accounts, as an empty project sees them."""
    with tempfile.TemporaryDirectory() as empty:
        ws, problems = load_workspace_lenient(empty)
    assert problems == []
    return ws


def check_document(doc: YamlDocument) -> list[Diagnostic]:
    """The library path `validate` takes for one document, for every file kind."""
    found: list[Diagnostic] = []
    ws = _base_workspace()
    for kind in KIND_PLACE:
        problems = schema_diagnostics(kind, doc.data, doc.positions)
        found += problems
        if problems:
            continue
        if kind == "preset":
            preset = preset_from(doc.data, name="fuzzed", source=None, builtin=False)
            found += check_preset(preset, doc, ws)
        elif kind == "pipeline":
            pipeline = pipeline_from(doc.data, name="fuzzed", source=None)
            found += check_pipeline(pipeline, doc, ws)
        elif kind == "accounts":
            accounts = accounts_from(doc.data, source=Path("accounts.yaml"))
            explicit = replace(ws, accounts=accounts, accounts_doc=doc, explicit_accounts=True)
            found += check_accounts(explicit)
        else:
            project_from(doc.data, root=Path("."), source=None)
    return found


def assert_points_inside(diagnostics: list[Diagnostic], text: str) -> None:
    lines = text.splitlines() or [""]
    for d in diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.message and "Traceback" not in d.message
        assert d.severity in ("error", "warning")
        assert 1 <= d.line <= len(lines) + 1, (str(d), len(lines))
        assert d.column >= 1, str(d)
        str(d)  # renders


def run_library(text: str) -> None:
    """parse -> schema -> loaders -> cross-checks: success or ConfigError, nothing else."""
    try:
        doc = parse_yaml(text, "fuzzed.yaml")
    except ConfigError as exc:
        assert exc.diagnostics
        assert_points_inside(exc.diagnostics, text)
        return
    assert_points_inside(check_document(doc), text)


def run_validate(kind: str, text: str) -> None:
    """`mediamix validate` on a project holding the file (in-process)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / KIND_PLACE[kind]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        report = validate([], str(root))
    assert_points_inside(report.diagnostics, text)
    shown = {Path(d.file).resolve() for d in report.diagnostics}
    assert shown <= {path.resolve()}, shown


# --- random text -----------------------------------------------------------------

YAML_ALPHABET = " \t\n:-[]{}#&*!|>'\"%@`,?<=~.0123456789abcxyz_\\\x00\x85\u2028\ufeff"


#: Pieces of YAML that make parsers work hard: anchors, aliases, merges, tags, dates,
#: block scalars, flow collections, directives, document markers.
YAML_PIECES = st.sampled_from(
    [
        "a", "b: ", "- ", "? ", ": ", "\n", "  ", "\t", "[", "]", "{", "}", ", ", "#c",
        "&x ", "*x", "<<: ", "<<: *x", "!!int ", "!!str ", "!!binary ", "!!set ", "!!omap ",
        "!!python/object:os.system ", "!x ", "2024-13-01", "2024-05-01", "1e999", "0x1G",
        ".nan", "~", "yes", "|\n", ">-\n", "'", '"', '"\\q"', "---\n", "...\n",
        "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\ufeff", "\x85", "\u2028", "\x00",
    ]
)  # fmt: skip


@FUZZ
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=YAML_ALPHABET, max_size=200),
        st.lists(YAML_PIECES, max_size=40).map("".join),
    )
)
def test_random_text_only_ever_raises_config_error(text: str) -> None:
    run_library(text)


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    for prev, name in zip("abcde", "bcdef", strict=True)
)

#: Inputs that used to escape as RecursionError, ValueError, IndexError or a segfault.
PATHOLOGICAL = {
    "deep-nesting": (
        "[" * 5000 + "]" * 5000,
        "fuzzed.yaml:1:101: values are nested more than 100 levels deep",
    ),
    "billion-laughs": (
        BILLION_LAUGHS,
        "fuzzed.yaml:1:35: the document expands to more than 100000 values (through aliases)",
    ),
    "alias-cycle": (
        "a: &x [1, *x]\n",
        "fuzzed.yaml:1:4: a[1]: an alias refers to the value that contains it (a cycle)",
    ),
    "merge-itself": (
        "a: &x {<<: *x}\n",
        "fuzzed.yaml:1:4: a: a mapping cannot merge itself ('<<')",
    ),
    "merge-a-scalar": (
        "base: &b 5\nc:\n  <<: *b\n",
        "fuzzed.yaml:1:7: c: '<<' merges mappings only (e.g. <<: *defaults)",
    ),
    "impossible-date": (
        "when: !!timestamp 2024-02-30\n",
        "fuzzed.yaml:1:7: when: '2024-02-30' is not a valid date (day is out of range for "
        "month); put it in quotes to keep it as text",
    ),
    "empty-int-tag": (
        "n: !!int\n",
        "fuzzed.yaml:1:4: n: '' is not a valid whole number (a whole number is digits, "
        "0o... (octal) or 0x... (hex)); put it in quotes to keep it as text",
    ),
    "control-character": (
        "a: b\nc: d\x07\n",
        "fuzzed.yaml:2:5: YAML syntax error: control character U+0007 is not allowed in YAML",
    ),
    "python-tag-on-a-list": (
        "x: !!python/object/apply:os.system [ls]\n",
        "fuzzed.yaml:1:4: x: unsupported YAML tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'; remove it",
    ),
    "key-named-like-a-sentinel": ("'<key>': 1\n'=': 2\n", None),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_yaml_is_reported_not_crashed_on(name: str) -> None:
    text, expected = PATHOLOGICAL[name]
    if expected is None:
        doc = parse_yaml(text, "fuzzed.yaml")
        assert set(_value_paths(doc.data)) <= set(doc.positions.values)
        return
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "fuzzed.yaml")
    assert [str(d) for d in caught.value.diagnostics] == [expected]


# --- YAML dumped from random data --------------------------------------------------

SCHEMA_WORDS = [
    "steps", "id", "prompt", "preset", "models", "provider", "model", "media_type",
    "inputs", "needs", "inputs_from", "for_each", "when", "params", "accounts", "name",
    "api_key_env", "storage", "url", "retry", "max_attempts", "validate", "strategy",
    "x-note", "<<", "",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["image", "text", "local", "card", "openai", "{{ item }}", "2024-13-01"])
)
DATA = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(SCHEMA_WORDS), inner, max_size=5)
    ),
    max_leaves=30,
)


def _value_paths(data: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path into ``data``: each one must have a recorded position."""
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _value_paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _value_paths(value, (*path, i))
    return found


@FUZZ
@given(DATA)
def test_dumped_random_data_round_trips_and_checks_cleanly(data: Any) -> None:
    # ASCII output: PyYAML's own emitter does not round-trip NEL (U+0085) when
    # allow_unicode is on. mediamix's dumper: PyYAML's own quotes by YAML 1.1 rules, so
    # the string "0E0" came back as the number 0.0 under the 1.2 loader.
    text = dump_yaml(data, allow_unicode=False)

    doc = parse_yaml(text, "fuzzed.yaml")

    assert doc.data == data
    assert set(_value_paths(data)) <= set(doc.positions.values)
    assert_points_inside(check_document(doc), text)


TEMPLATE_BITS = st.sampled_from(
    [
        "plain words ",
        "{{ inputs.topic }}",
        "{{ inputs.nope }}",
        "{{ topic }}",
        "{{ item }}",
        "{{ steps.a.text }}",
        "{{ steps.b.url }}",
        "{{ steps.c.nope }}",
        "{{ steps.zz.text }}",
        "{% for s in inputs.sections %}{{ s }}{% endfor %}",
        "{% if x %}",
        "{{ x | nosuchfilter }}",
        "{{ (((1 }}",
        "\n",
    ]
)
STEP = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "c", "Bad-Id"]),
        "prompt": st.lists(TEMPLATE_BITS, max_size=4).map("".join),
    },
    optional={
        "preset": st.sampled_from(["image-card", "text-gpt-simple", "speech-simple", "nope"]),
        "media_type": st.sampled_from(["image", "text", "audio", "video", "document", "gif"]),
        "models": st.lists(
            st.fixed_dictionaries(
                {
                    "provider": st.sampled_from(["local", "openai", "anthropic", "opneai"]),
                    "model": st.sampled_from(["card", "template", "espeak", "gpt-4.1", "x"]),
                },
                optional={"account": st.sampled_from(["local", "openai-default", "nope"])},
            ),
            max_size=3,
        ),
        "needs": st.lists(st.sampled_from(["a", "b", "c", "zz"]), max_size=3),
        "inputs_from": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
        "for_each": st.sampled_from(["inputs.sections", "steps.a.items", "}}", ""]),
        "when": st.sampled_from(["inputs.topic", "steps.b.text", "{{", "item"]),
        "params": st.dictionaries(st.sampled_from(["local", "width"]), TEMPLATE_BITS, max_size=2),
    },
)
PIPELINE = st.fixed_dictionaries(
    {"steps": st.lists(STEP, max_size=4)},
    optional={
        "inputs": st.dictionaries(
            st.sampled_from(["topic", "sections", "bad-name"]),
            st.fixed_dictionaries({}, optional={"type": st.sampled_from(["string", "list"])}),
            max_size=3,
        ),
        "workflow": st.sampled_from(["simple", "adaptive", "fast"]),
    },
)


@FUZZ_PROJECT
@given(PIPELINE)
def test_pipeline_shaped_data_only_ever_yields_diagnostics(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    run_validate("pipeline", text)


# --- the shipped files, with editing accidents ---------------------------------------


def _cut(text: str, at: int) -> str:
    return text[: at % (len(text) + 1)]


def _delete_line(text: str, at: int) -> str:
    lines = text.splitlines(keepends=True)
    del lines[at % len(lines)]
    return "".join(lines)


def _duplicate_line(text: str, at: int) -> str:
    lines = text.splitlines(keepends=True)
    i = at % len(lines)
    lines.insert(i, lines[i])
    return "".join(lines)


def _swap_chars(text: str, at: int) -> str:
    i = at % max(1, len(text) - 1)
    return text[:i] + text[i + 1 : i + 2] + text[i : i + 1] + text[i + 2 :]


def _insert_tab(text: str, at: int) -> str:
    i = at % (len(text) + 1)
    return text[:i] + "\t" + text[i:]


def _indent_more(text: str, at: int) -> str:
    lines = text.splitlines(keepends=True)
    i = at % len(lines)
    lines[i] = " " * (1 + at % 3) + lines[i]
    return "".join(lines)


def _indent_less(text: str, at: int) -> str:
    lines = text.splitlines(keepends=True)
    indented = [i for i, line in enumerate(lines) if line.startswith(" ")]
    if not indented:
        return text[1:]
    i = indented[at % len(indented)]
    lines[i] = lines[i][1 + at % 2 :]
    return "".join(lines)


def _replace_char(text: str, at: int) -> str:
    i = at % max(1, len(text))
    return text[:i] + ":[]{}-#&*!|>'\"\n "[at % 16] + text[i + 1 :]


MUTATIONS: list[Callable[[str, int], str]] = [
    _cut,
    _delete_line,
    _duplicate_line,
    _swap_chars,
    _insert_tab,
    _indent_more,
    _indent_less,
    _replace_char,
]


def mutate(text: str, steps: list[tuple[int, int]]) -> str:
    for which, at in steps:
        if not text.strip():
            break
        text = MUTATIONS[which % len(MUTATIONS)](text, at)
    return text


MUTATION_STEPS = st.lists(
    st.tuples(st.integers(0, len(MUTATIONS) - 1), st.integers(0, 10_000)), min_size=1, max_size=3
)


@FUZZ_PROJECT
@given(st.sampled_from(SHIPPED), MUTATION_STEPS)
def test_mutated_shipped_files_only_ever_yield_diagnostics(
    shipped: tuple[str, str], steps: list[tuple[int, int]]
) -> None:
    kind, original = shipped
    text = mutate(original, steps)
    run_library(text)
    run_validate(kind, text)


def test_every_mutation_changes_the_text() -> None:
    # A mutation that silently did nothing would make the property above vacuous.
    for _, sample in SHIPPED:
        for mutation in MUTATIONS:
            changed = [mutation(sample, at) != sample for at in range(50)]
            assert sum(changed) > 25, mutation.__name__


def test_cli_validate_never_shows_a_traceback_on_mutated_files(tmp_path: Path) -> None:
    rng = random.Random(20240501)
    for n in range(3):
        root = tmp_path / f"project{n}"
        for i, (kind, original) in enumerate(rng.sample(SHIPPED, 4)):
            steps = [(rng.randrange(len(MUTATIONS)), rng.randrange(10_000)) for _ in range(2)]
            place = KIND_PLACE[kind].replace("fuzzed", f"fuzzed{i}")
            path = root / place
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(mutate(original, steps), encoding="utf-8")

        out = subprocess.run(
            [sys.executable, "-m", "runner.cli.main", "validate"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert "Traceback" not in out.stderr + out.stdout
        assert "internal error" not in out.stderr
        assert out.returncode in (0, 1), out.stderr
