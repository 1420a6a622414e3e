"""Prompts of text and names render without Jinja's machinery, to the very text Jinja
renders, and everything else still goes through Jinja (its errors and bounds included)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.config.model import TemplateLimits
from runner.engine import templating
from runner.engine.substitution import substitution
from runner.engine.templating import environment, render, template_names
from runner.errors import TemplateError


def jinja_render(source: str, names: dict[str, Any]) -> str:
    """What the Jinja path renders (render's slow path, without its bounds)."""
    template = templating._compiled(source)
    return "".join(template.root_render_func(template.new_context(dict(names)))).strip()


def same_as_jinja(source: str, context: dict[str, Any]) -> None:
    """render gives Jinja's text, or refuses (TemplateError) where Jinja raises."""
    try:
        expected = jinja_render(source, context)
    except Exception:
        with pytest.raises(TemplateError):
            render(source, context, step="s")
    else:
        assert render(source, context, step="s") == expected


def names(item: Any = None, **inputs: Any) -> dict[str, Any]:
    return template_names(
        inputs=inputs,
        outputs={"draft": "a draft"},
        pipeline="cards",
        run={"id": "r-1", "date": "2026-12-03"},
        item=item,
        index=3,
    )


def is_simple(source: str) -> bool:
    return substitution(environment().parse(source)) is not None


@pytest.mark.parametrize(
    "source",
    [
        "n {{ item }}",
        "Write about {{ inputs.topic }} for {{ item.audience }}.",
        "{{ steps.draft }} ({{ run.id }}, {{ pipeline.name }}, #{{ item_number }})",
        "  {{- item.title -}}  \n",
        "{{ item_index }}{{ item.nested.deep }}",
        "no names at all",
        "",
    ],
)
def test_a_template_of_text_and_names_renders_as_jinja_does(source: str) -> None:
    context = names({"audience": "kids", "title": " T ", "nested": {"deep": 1.5}}, topic="cats")
    assert is_simple(source)
    assert render(source, context, step="s") == jinja_render(source, context)


@pytest.mark.parametrize(
    "source",
    ["{{ item | upper }}", "{% if item %}x{% endif %}", "{{ item['a'] }}", "{{ item ~ 1 }}"],
)
def test_anything_else_is_left_to_jinja(source: str) -> None:
    assert not is_simple(source)
    context = names({"a": "b"})
    assert render(source, context, step="s") == jinja_render(source, context)


@pytest.mark.parametrize(
    ("source", "item"),
    [
        ("{{ item.items }}", {"items": "shadowed by dict.items in Jinja"}),
        ("{{ item.keys }}", {}),
        ("{{ item.missing }}", {"a": 1}),  # strictly undefined: an error
        ("{{ item._hidden }}", {"_hidden": 1}),
        ("{{ item.text }}", type("Row", (), {"text": "an object's attribute"})()),
    ],
)
def test_lookups_the_sandbox_answers_its_own_way_go_to_jinja(source: str, item: Any) -> None:
    same_as_jinja(source, names(item))


def test_a_missing_name_is_jinjas_error_naming_the_step() -> None:
    with pytest.raises(TemplateError, match=r"step 'card'.*no attribute 'topc'"):
        render("{{ inputs.topc }}", names(topic="cats"), step="card")
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        render("{{ nope }}", names(), step="card")


def test_the_size_bound_holds_for_substituted_values() -> None:
    limits = TemplateLimits(output_chars=100)
    assert render("{{ item }}", names("x" * 100), step="s", limits=limits) == "x" * 100
    with pytest.raises(TemplateError, match="over the limit of 100"):
        render("a{{ item }}", names("x" * 100), step="s", limits=limits)


def test_a_template_that_does_not_parse_is_jinjas_error() -> None:
    with pytest.raises(TemplateError, match="step 's'"):
        render("{{ item ", names(), step="s")


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=st.characters(exclude_characters="{}%#"), max_size=6)),
    row=st.dictionaries(identifiers, plain_values, max_size=4),
    picks=st.lists(st.tuples(st.booleans(), identifiers), max_size=4),
)
def test_substitution_equals_jinja_for_any_row(
    texts: list[str], row: dict[str, Any], picks: list[tuple[bool, str]]
) -> None:
    """Text, item fields (present or not, shadowed by dict methods or not) and inputs."""
    chunks = list(texts)
    for of_item, name in picks:
        chunks.append(f"{{{{ item.{name} }}}}" if of_item else f"{{{{ inputs.{name} }}}}")
    same_as_jinja("".join(chunks), names(row, **row))
