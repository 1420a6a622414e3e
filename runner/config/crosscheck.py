"""Checks that span files: presets against providers and accounts, pipelines against
presets, their own steps and their templates.

Each check returns diagnostics (never raises), so ``mediamix validate`` reports every
problem in every file in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from runner.config.judge_check import RUBRIC_NAMES, check_judge
from runner.config.model import ModelSpec, Pipeline, Preset, Step
from runner.config.output_paths import template_diagnostics
from runner.config.project import Workspace
from runner.config.schema_check import did_you_mean
from runner.config.template_refs import (
    STEP_OUTPUT_FIELDS,
    TEMPLATE_NAMES,
    TemplateRefs,
    expression_refs,
    template_refs,
)
from runner.config.yamlsource import DocPath, YamlDocument, format_path
from runner.errors import Diagnostic
from runner.providers.catalog import LOCAL_MODELS, PROVIDER_MEDIA_TYPES
from runner.providers.registry import provider_names

_JINJA_GLOBALS = frozenset({"range", "lipsum", "dict", "cycler", "joiner", "namespace", "loop"})


def _warning(d: Diagnostic) -> Diagnostic:
    return replace(d, severity="warning")


def check_models(
    models: Iterable[ModelSpec],
    media_type: str | None,
    base: DocPath,
    doc: YamlDocument,
    ws: Workspace,
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    known = provider_names()
    accounts = {a.name: a for a in ws.accounts}
    for i, spec in enumerate(models):
        here: DocPath = (*base, i)
        if spec.provider not in known:
            out.append(
                doc.positions.diagnostic(
                    (*here, "provider"),
                    f"{spec.provider!r} is not a known provider"
                    f"{did_you_mean(spec.provider, known)}; known: {', '.join(known)}",
                )
            )
            continue
        served = PROVIDER_MEDIA_TYPES.get(spec.provider)
        if media_type and served is not None and media_type not in served:
            out.append(
                doc.positions.diagnostic(
                    (*here, "provider"),
                    f"provider {spec.provider!r} does not generate {media_type}; "
                    f"it makes: {', '.join(sorted(served))}",
                )
            )
        if spec.provider == "local" and media_type in LOCAL_MODELS:
            names = LOCAL_MODELS[media_type]
            if spec.model not in names:
                out.append(
                    doc.positions.diagnostic(
                        (*here, "model"),
                        f"the local {media_type} generator has no model {spec.model!r}"
                        f"{did_you_mean(spec.model, names)}; use one of: {', '.join(names)}",
                    )
                )
        if spec.account is not None:
            account = accounts.get(spec.account)
            if account is None:
                out.append(
                    doc.positions.diagnostic(
                        (*here, "account"),
                        f"no account named {spec.account!r} in accounts.yaml"
                        f"{did_you_mean(spec.account, accounts)}"
                        if ws.explicit_accounts
                        else f"no account named {spec.account!r}: there is no accounts.yaml, "
                        f"so the accounts are the defaults ({', '.join(sorted(accounts))})",
                    )
                )
            elif account.provider != spec.provider:
                out.append(
                    doc.positions.diagnostic(
                        (*here, "account"),
                        f"account {spec.account!r} belongs to provider "
                        f"{account.provider!r}, not {spec.provider!r}",
                    )
                )
        elif ws.explicit_accounts and spec.provider != "local":
            serving = [
                a
                for a in ws.accounts
                if a.provider == spec.provider and a.status == "active" and a.serves(spec.model)
            ]
            if not serving:
                out.append(
                    _warning(
                        doc.positions.diagnostic(
                            (*here, "model"),
                            f"no active account in accounts.yaml serves {spec.label}; "
                            "this candidate will be skipped",
                        )
                    )
                )
    return out


def check_preset(preset: Preset, doc: YamlDocument, ws: Workspace) -> list[Diagnostic]:
    out = check_models(preset.models, preset.media_type, ("models",), doc, ws)
    if preset.judge is not None:
        out += check_judge(
            preset.judge, preset.media_type, ("judge",), doc, ws, rubric_in_preset=True
        )
    return out


def check_accounts(ws: Workspace) -> list[Diagnostic]:
    doc = ws.accounts_doc
    if doc is None:
        return []
    out: list[Diagnostic] = []
    seen: dict[str, int] = {}
    known = provider_names()
    for i, account in enumerate(ws.accounts):
        if account.source is None:
            continue  # the implicit local account
        if account.name in seen:
            out.append(
                doc.positions.diagnostic(
                    ("accounts", i, "name"),
                    f"duplicate account name {account.name!r} "
                    f"(also accounts[{seen[account.name]}])",
                )
            )
        seen.setdefault(account.name, i)
        if account.provider not in known:
            out.append(
                doc.positions.diagnostic(
                    ("accounts", i, "provider"),
                    f"{account.provider!r} is not a known provider"
                    f"{did_you_mean(account.provider, known)}",
                )
            )
    return out


def resolve_step_preset(step: Step, pipeline: Pipeline, ws: Workspace) -> Preset | None:
    """The preset a step runs with: named, or the best of its media type; None if inline."""
    if step.preset:
        return ws.presets.get(step.preset)
    if step.models:
        return None
    if step.media_type:
        candidates = ws.presets_for(step.media_type)
        if pipeline.workflow == "adaptive":
            adaptive = [p for p in candidates if p.strategy in ("adaptive", "ensemble")]
            candidates = adaptive or candidates
        return candidates[0] if candidates else None
    return None


def step_dependencies(step: Step) -> set[str]:
    deps = set(step.needs) | set(step.inputs_from)
    for _, _, refs in _templates_of(step):
        deps |= set(refs.steps)
    deps.discard(step.id)
    return deps


def _templates_of(step: Step) -> list[tuple[DocPath, str, TemplateRefs]]:
    """(where in the step, template text, what it reads) for every template of a step."""
    found: list[tuple[DocPath, str, TemplateRefs]] = [
        (("prompt",), step.prompt, template_refs(step.prompt))
    ]
    if step.when:
        found.append((("when",), step.when, expression_refs(step.when)))
    if step.for_each:
        found.append((("for_each",), step.for_each, expression_refs(step.for_each)))
    for path, text in _param_templates(step.params, ("params",)):
        found.append((path, text, template_refs(text)))
    if step.judge is not None and step.judge.rubric is not None:
        found.append((("judge", "rubric"), step.judge.rubric, template_refs(step.judge.rubric)))
    return found


def _param_templates(params: object, prefix: DocPath) -> list[tuple[DocPath, str]]:
    """String params that are templates (the engine renders them like the prompt)."""
    if isinstance(params, dict):
        return [
            item
            for key, value in params.items()
            for item in _param_templates(value, (*prefix, str(key)))
        ]
    if isinstance(params, str) and ("{{" in params or "{%" in params):
        return [(prefix, params)]
    return []


def _template_line(doc: YamlDocument, where: DocPath, template_line: int) -> tuple[int, int]:
    """File position of line ``template_line`` of the template at ``where``.

    A literal block scalar (``|``) keeps lines as written, starting on the line after
    the indicator; any other style folds lines, so only its start is known for sure.
    """
    line, col = doc.positions.of(where)
    lines = doc.text.splitlines()
    if not 0 < line <= len(lines) or not lines[line - 1][col - 1 :].startswith("|"):
        return line, col
    target = line + template_line
    if target > len(lines):
        return line, col
    text = lines[target - 1]
    return target, len(text) - len(text.lstrip(" ")) + 1


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def check_pipeline(pipeline: Pipeline, doc: YamlDocument, ws: Workspace) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    pos = doc.positions
    step_ids = [s.id for s in pipeline.steps]
    index_of: dict[str, int] = {}
    input_names = {i.name for i in pipeline.inputs}

    for i, step in enumerate(pipeline.steps):
        here: DocPath = ("steps", i)
        if step.id in index_of:
            out.append(
                pos.diagnostic(
                    (*here, "id"),
                    f"duplicate step id {step.id!r} (also steps[{index_of[step.id]}]); "
                    "step ids must be unique",
                )
            )
        else:
            index_of[step.id] = i

    if pipeline.output is not None:
        out += template_diagnostics(pipeline.output, doc, ("output",))
    for i, step in enumerate(pipeline.steps):
        here = ("steps", i)
        if step.output is not None:
            out += template_diagnostics(
                step.output, doc, (*here, "output"), for_each=step.for_each is not None
            )
        # Which preset / models, and do their media types agree?
        if step.preset:
            preset = ws.presets.get(step.preset)
            if preset is None and step.preset in ws.broken_presets:
                pass  # its own file's errors are reported; "unknown" would mislead
            elif preset is None:
                out.append(
                    pos.diagnostic(
                        (*here, "preset"),
                        f"unknown preset {step.preset!r}"
                        f"{did_you_mean(step.preset, ws.presets)}; see `mediamix presets`",
                    )
                )
            elif step.media_type and preset.media_type != step.media_type:
                out.append(
                    pos.diagnostic(
                        (*here, "preset"),
                        f"preset {step.preset!r} makes {preset.media_type}, but this step's "
                        f"media_type is {step.media_type}",
                    )
                )
        elif step.models:
            if not step.media_type:
                out.append(pos.diagnostic(here, "a step with inline models needs a media_type"))
            out += check_models(step.models, step.media_type, (*here, "models"), doc, ws)
        elif step.media_type:
            if not ws.presets_for(step.media_type):
                out.append(
                    pos.diagnostic(
                        (*here, "media_type"),
                        f"no preset makes {step.media_type}; name a preset or list models",
                    )
                )
        else:
            out.append(
                pos.diagnostic(here, "a step needs a preset, inline models, or a media_type")
            )
        if step.judge is not None:
            preset = resolve_step_preset(step, pipeline, ws)
            base = preset.judge if preset is not None else None
            media = step.media_type or (preset.media_type if preset is not None else None)
            merged = step.judge.over(base)
            out += check_judge(merged, media, (*here, "judge"), doc, ws, rubric_in_preset=False)

        for key in ("needs", "inputs_from"):
            for j, ref in enumerate(getattr(step, key)):
                if ref not in index_of:
                    hint = did_you_mean(ref, step_ids) or f"; steps: {', '.join(step_ids)}"
                    out.append(pos.diagnostic((*here, key, j), f"unknown step {ref!r}{hint}"))

        for field_path, _text, refs in _templates_of(step):
            where: DocPath = (*here, *field_path)
            field_name = field_path[0]
            if refs.syntax_error:
                line, message = refs.syntax_error
                file_line, file_col = _template_line(doc, where, line)
                out.append(
                    Diagnostic(
                        pos.file,
                        file_line,
                        file_col,
                        format_path(where),
                        f"template syntax error: {message}",
                    )
                )
                continue
            extra = RUBRIC_NAMES if field_name == "judge" else frozenset()
            for name in sorted(refs.names - TEMPLATE_NAMES - _JINJA_GLOBALS - extra):
                hint = ""
                if name in input_names:
                    hint = f" (did you mean 'inputs.{name}'?)"
                elif name in index_of:
                    hint = f" (did you mean 'steps.{name}'?)"
                else:
                    hint = did_you_mean(name, TEMPLATE_NAMES)
                out.append(
                    pos.diagnostic(
                        where,
                        f"template uses undefined variable {name!r}{hint}; templates can "
                        "use inputs.<name>, steps.<id>.<field>, item, run"
                        + (" (a rubric also prompt, media_type)" if extra else ""),
                    )
                )
            uses_item = bool({"item", "item_index", "item_number"} & refs.names)
            if uses_item and not step.for_each and field_name != "for_each":
                out.append(
                    pos.diagnostic(where, "template uses 'item' but the step has no for_each")
                )
            for name in sorted(refs.inputs - input_names):
                out.append(
                    pos.diagnostic(
                        where,
                        f"template uses inputs.{name}, but the pipeline has no input {name!r}"
                        f"{did_you_mean(name, input_names)}",
                    )
                )
            for ref, attrs in sorted(refs.steps.items()):
                if ref == step.id:
                    out.append(pos.diagnostic(where, f"step {ref!r} cannot use its own output"))
                    continue
                if ref not in index_of:
                    out.append(
                        pos.diagnostic(
                            where,
                            f"template uses steps.{ref}, but there is no step {ref!r}"
                            f"{did_you_mean(ref, step_ids)}",
                        )
                    )
                    continue
                for attr in sorted(attrs - STEP_OUTPUT_FIELDS):
                    out.append(
                        pos.diagnostic(
                            where,
                            f"steps.{ref}.{attr}: a step has no output {attr!r}"
                            f"{did_you_mean(attr, STEP_OUTPUT_FIELDS)}; outputs: "
                            f"{', '.join(sorted(STEP_OUTPUT_FIELDS))}",
                        )
                    )

    graph = {s.id: step_dependencies(s) for s in pipeline.steps}
    cycle = _find_cycle(graph)
    if cycle:
        first = index_of.get(cycle[0], 0)
        out.append(
            pos.diagnostic(
                ("steps", first, "id"),
                f"steps depend on each other in a cycle: {' -> '.join(cycle)}",
            )
        )
    return out
