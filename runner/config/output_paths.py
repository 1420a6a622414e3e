"""Output path templates (``output:`` of a step, a pipeline or mediamix.yaml), checked
before anything is called.

An output template is a ``str.format`` string over plain field names (``OUTPUT_FIELDS``)
whose result is an artifact key: a relative, ``/``-separated path under the storage root.
The storage layer refuses a bad key when it stores an artifact, which is after the call
was paid for; these checks find the same problems in the template itself, so
``validate``, ``--dry-run`` and the start of every run and batch refuse it with
``FILE:LINE:COL`` and nothing is paid for.
"""

from __future__ import annotations

import re
import string

from runner.config.schema_check import did_you_mean
from runner.config.yamlsource import DocPath, YamlDocument
from runner.errors import Diagnostic

#: The fields an output template may use (the engine fills each of them for every artifact).
OUTPUT_FIELDS = frozenset(
    {
        "run_id",
        "step_id",
        "item_suffix",
        "item_index",
        "ext",
        "pipeline",
        "job_id",
        "provider",
        "model",
        "date",
    }
)

_FORMATTER = string.Formatter()
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a safe relative path under a storage root, or None if it is."""
    if not key:
        return "is empty"
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        return "is absolute; keys are relative to the storage root"
    if "\\" in key:
        return "contains a backslash; use '/' between folders"
    if _CONTROL_CHARACTER.search(key):
        return "contains a control character"
    for part in key.split("/"):
        if part == "..":
            return "escapes the storage root with '..'"
        if part in ("", "."):
            return "has an empty or '.' path segment"
    return None


#: Fields that are empty for a job outside a ``for_each`` (a step's only job).
ITEM_FIELDS = frozenset({"item_suffix", "item_index"})


def template_problems(template: str, *, for_each: bool = False) -> list[str]:
    """Every problem of an output template, each a phrase that follows the template.

    Fields are checked by name, and the path by its shape with every field standing for a
    plain name (the item fields for nothing, unless every job is a ``for_each`` item):
    ``../{run_id}`` or ``/srv/{run_id}`` can only ever make a bad key.
    """
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        return [f"is malformed: {exc} (write a literal brace as '{{{{' or '}}}}')"]
    problems: list[str] = []
    shape: list[str] = []
    for literal, name, _spec, _conversion in parsed:
        shape.append(literal)
        if name is None:
            continue
        shape.append("" if name in ITEM_FIELDS and not for_each else "x")
        if not name.isidentifier():
            problems.append(f"uses {{{name}}}: a field must be a plain name such as {{run_id}}")
        elif name not in OUTPUT_FIELDS:
            problems.append(
                f"uses unknown field {{{name}}}{did_you_mean(name, OUTPUT_FIELDS)}; "
                f"known: {', '.join(sorted(OUTPUT_FIELDS))}"
            )
    shape_problem = key_problem("".join(shape))
    if shape_problem is not None:
        shape_problem = shape_problem.replace("is empty", "makes an empty path")
        if not for_each and any(name in ITEM_FIELDS for _, name, _, _ in parsed):
            shape_problem += " (item_index and item_suffix are empty outside a for_each)"
        problems.append(shape_problem)
    return problems


def template_diagnostics(
    template: str, doc: YamlDocument, where: DocPath, *, for_each: bool = False
) -> list[Diagnostic]:
    """Diagnostics at ``where`` in ``doc`` (the ``output:`` value) for a bad template."""
    return [
        doc.positions.diagnostic(where, f"output template {template!r} {problem}")
        for problem in template_problems(template, for_each=for_each)
    ]
