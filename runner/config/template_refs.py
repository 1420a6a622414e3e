"""What a Jinja2 template reads, found from its AST without rendering it.

Pipelines check these references before anything runs: ``{{ steps.outlin.text }}`` or
``{{ inputs.topc }}`` is a config error with a line number, not a failure an hour in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

#: Names a step template may read besides Jinja's own globals.
TEMPLATE_NAMES = frozenset(
    {"inputs", "steps", "item", "item_index", "item_number", "run", "pipeline"}
)

#: Attributes of ``steps.<id>`` (see runner.engine.outputs.StepOutput).
STEP_OUTPUT_FIELDS = frozenset(
    {
        "text",
        "url",
        "uri",
        "path",
        "public_url",
        "mime",
        "media_type",
        "size",
        "sha256",
        "width",
        "height",
        "duration_s",
        "pages",
        "provider",
        "model",
        "items",
        "texts",
        "urls",
        "paths",
    }
)


@dataclass
class TemplateRefs:
    names: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)
    #: step id -> attributes read from it (empty set: the step itself was used)
    steps: dict[str, set[str]] = field(default_factory=dict)
    syntax_error: tuple[int, str] | None = None


@cache
def analysis_environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False)


def _attr_chain(node: nodes.Node) -> list[str] | None:
    """``steps.outline.text`` -> ["steps", "outline", "text"]; None when not a plain chain."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return list(reversed(parts))
        else:
            return None


def template_refs(source: str) -> TemplateRefs:
    env = analysis_environment()
    refs = TemplateRefs()
    try:
        ast = env.parse(source)
        # Compiling finds what parsing does not, e.g. an unknown filter.
        refs.names = set(meta.find_undeclared_variables(ast))
        chains = [_attr_chain(n) for n in ast.find_all((nodes.Getattr, nodes.Getitem))]
    except TemplateSyntaxError as exc:
        refs.syntax_error = (exc.lineno or 1, exc.message or "syntax error")
        return refs
    except RecursionError:
        refs.syntax_error = (1, "expressions are nested too deeply")
        return refs
    for chain in chains:
        if not chain or len(chain) < 2:
            continue
        root = chain[0]
        if root == "inputs":
            refs.inputs.add(chain[1])
        elif root == "steps":
            attrs = refs.steps.setdefault(chain[1], set())
            if len(chain) >= 3:
                attrs.add(chain[2])
    return refs


def expression_refs(expression: str) -> TemplateRefs:
    """References of a bare expression such as a ``when`` or ``for_each`` value."""
    return template_refs("{{ " + expression + " }}")
