"""Cross-file checks of a ``judge`` block: can this provider judge this media type, does
an account serve the judge (and its speech-to-text model), and does the rubric only use
names it will have.

A judge that no account serves is an error, not a warning as an unserved candidate is:
a candidate has others to fall back to, a judge has none, so the step would quietly run
unjudged. A judge whose key is simply not set is fine: the run goes on unjudged and
says so (offline stays offline).
"""

from __future__ import annotations

from runner.config.model import JudgeSpec
from runner.config.project import Workspace
from runner.config.schema_check import did_you_mean
from runner.config.template_refs import template_refs
from runner.config.yamlsource import DocPath, YamlDocument
from runner.errors import Diagnostic
from runner.providers.catalog import (
    JUDGE_PROVIDERS,
    PROVIDER_MEDIA_TYPES,
    TRANSCRIBE_PROVIDERS,
    VISION_JUDGE_PROVIDERS,
)
from runner.providers.registry import provider_names

#: Names a rubric can use wherever it is written; a step's rubric can also use the
#: step's own template names (inputs, item, steps, ...).
RUBRIC_NAMES = frozenset({"prompt", "media_type"})

_JINJA_GLOBALS = frozenset({"range", "lipsum", "dict", "cycler", "joiner", "namespace"})

#: A speech-to-text model per provider, for the hint when an audio judge names none.
_TRANSCRIBE_EXAMPLE = {
    "google": "{provider: google, model: gemini-2.5-flash}",
}
_DEFAULT_TRANSCRIBE_EXAMPLE = "{provider: openai, model: gpt-4o-mini-transcribe}"


def check_judge(
    spec: JudgeSpec,
    media_type: str | None,
    base: DocPath,
    doc: YamlDocument,
    ws: Workspace,
    *,
    rubric_in_preset: bool,
) -> list[Diagnostic]:
    """Problems of one judge block (``spec`` already merged over its preset's)."""
    pos = doc.positions
    out: list[Diagnostic] = []
    if not spec.provider or not spec.model:
        missing = " and ".join(f for f in ("provider", "model") if not getattr(spec, f))
        return [
            pos.diagnostic(
                base,
                f"the judge needs a {missing} (the preset has no judge to take it from)",
            )
        ]
    known = provider_names()
    provider = spec.provider
    if provider not in known:
        return [
            pos.diagnostic(
                (*base, "provider"),
                f"{provider!r} is not a known provider{did_you_mean(provider, known)}; "
                f"judges: {', '.join(sorted(JUDGE_PROVIDERS))}",
            )
        ]
    builtin = provider in PROVIDER_MEDIA_TYPES  # a plugin's abilities are its own business
    if builtin and provider not in JUDGE_PROVIDERS:
        out.append(
            pos.diagnostic(
                (*base, "provider"),
                f"provider {provider!r} cannot judge (it has no text model that answers "
                f"in JSON); judges: {', '.join(sorted(JUDGE_PROVIDERS))}",
            )
        )
    elif builtin and media_type in ("image", "video") and provider not in VISION_JUDGE_PROVIDERS:
        out.append(
            pos.diagnostic(
                (*base, "provider"),
                f"provider {provider!r} cannot see pictures, so it cannot judge {media_type}; "
                f"use one of: {', '.join(sorted(VISION_JUDGE_PROVIDERS))}",
            )
        )
    out += _served(provider, spec.model, spec.account, "judge", base, doc, ws)
    if media_type == "audio":
        out += _check_transcribe(spec, base, doc, ws)
    if spec.rubric is not None and rubric_in_preset:
        out += check_rubric(spec.rubric, (*base, "rubric"), doc, allowed=RUBRIC_NAMES)
    return out


def _check_transcribe(
    spec: JudgeSpec, base: DocPath, doc: YamlDocument, ws: Workspace
) -> list[Diagnostic]:
    pos = doc.positions
    if spec.transcribe is None:
        example = _TRANSCRIBE_EXAMPLE.get(spec.provider or "", _DEFAULT_TRANSCRIBE_EXAMPLE)
        return [
            pos.diagnostic(
                base,
                "judging audio needs a speech-to-text model: the judge reads a transcript; "
                f"add transcribe: {example}",
            )
        ]
    where: DocPath = (*base, "transcribe")
    provider = spec.transcribe.provider or spec.provider or ""
    known = provider_names()
    if provider not in known:
        return [
            pos.diagnostic(
                (*where, "provider"),
                f"{provider!r} is not a known provider{did_you_mean(provider, known)}",
            )
        ]
    if provider in PROVIDER_MEDIA_TYPES and provider not in TRANSCRIBE_PROVIDERS:
        return [
            pos.diagnostic(
                (*where, "provider") if spec.transcribe.provider else where,
                f"provider {provider!r} has no speech-to-text model; "
                f"use one of: {', '.join(sorted(TRANSCRIBE_PROVIDERS))}",
            )
        ]
    account = spec.transcribe.account
    if account is None and provider == spec.provider:
        account = spec.account
    return _served(provider, spec.transcribe.model, account, "speech-to-text model", where, doc, ws)


def _served(
    provider: str,
    model: str,
    account: str | None,
    what: str,
    base: DocPath,
    doc: YamlDocument,
    ws: Workspace,
) -> list[Diagnostic]:
    """An account that can carry the call: the named one, or any that serves the model."""
    pos = doc.positions
    accounts = {a.name: a for a in ws.accounts}
    if account is not None:
        found = accounts.get(account)
        if found is None:
            return [
                pos.diagnostic(
                    (*base, "account"),
                    f"no account named {account!r}{did_you_mean(account, accounts)}",
                )
            ]
        if found.provider != provider:
            return [
                pos.diagnostic(
                    (*base, "account"),
                    f"account {account!r} belongs to provider {found.provider!r}, not {provider!r}",
                )
            ]
        if not found.serves(model):
            return [
                pos.diagnostic(
                    (*base, "model"),
                    f"account {account!r} does not serve {provider}/{model} (its models: "
                    f"{', '.join(found.models)})",
                )
            ]
        return []
    if not ws.explicit_accounts:
        return []  # the default accounts serve every model of their vendor
    serving = [
        a
        for a in ws.accounts
        if a.provider == provider and a.status == "active" and a.serves(model)
    ]
    if serving:
        return []
    return [
        pos.diagnostic(
            (*base, "model"),
            f"no active account in accounts.yaml serves the {what} {provider}/{model}; "
            "add the model to an account's models (without one every artifact would go "
            "unjudged)",
        )
    ]


def check_rubric(
    rubric: str, where: DocPath, doc: YamlDocument, *, allowed: frozenset[str]
) -> list[Diagnostic]:
    """Syntax and names of a preset's rubric (a step's is checked with its templates)."""
    refs = template_refs(rubric)
    pos = doc.positions
    if refs.syntax_error:
        return [pos.diagnostic(where, f"template syntax error: {refs.syntax_error[1]}")]
    return [
        pos.diagnostic(
            where,
            f"rubric uses undefined variable {name!r}{did_you_mean(name, allowed)}; a "
            f"preset's rubric can use {', '.join(sorted(allowed))} (a step's judge can also "
            "use inputs, item, steps)",
        )
        for name in sorted(refs.names - allowed - _JINJA_GLOBALS)
    ]
