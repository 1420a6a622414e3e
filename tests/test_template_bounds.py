"""Template renders are bounded in time and size (``limits:`` in mediamix.yaml).

``{% for i in range(99999) %}{% for j in range(99999) %}...`` used to render until killed
and ``'x' * 100000000`` built 100 MB. Now a render stops past ``template_seconds`` or
``template_output_chars`` with an error naming the step; the step fails like any template
error (exit 1, error_class "template"), before anything is paid for.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from runner.config.model import TemplateLimits
from runner.engine.templating import evaluate, render, template_names
from runner.errors import TemplateError
from tests.batch_support import PIPELINE, batch_project, query
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix

FAST = TemplateLimits(seconds=0.3, output_chars=1 << 20)

RUNAWAY = {
    "nested loops": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}"
    "{% endfor %}",
    "silent loops": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
    "{% endfor %}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(60) }}",
    "growing string": "{% set ns = namespace(s='') %}{% for i in range(99999) %}"
    "{% set ns.s = ns.s ~ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% endfor %}{{ ns.s }}",
}
HUGE = {
    "repeat": ("{{ 'x' * 100000000 }}", "a repeated value of 100,000,000 characters"),
    "list repeat": ("{{ ([1] * 100000000)|length }}", "a repeated value of 100,000,000"),
    "str.center": ("{{ 'x'.center(10**10) }}", "str.center(10000000000)"),
    "center filter": ("{{ 'x'|center(10**10) }}", "center(10000000000)"),
    "indent filter": ("{{ ('a\n' * 1000)|indent(100000) }}", "indent() of 100,"),
    "replace": ("{{ ('x' * 1000000)|replace('x', 'xxxx') }}", "str.replace() of 4,000,000"),
    "join": ("{{ ('x' * 100000).join(range(10000)|list) }}", "str.join() of 999,900,000"),
    "percent width": ("{{ '%9999999999s' % 'x' }}", "a %-format field width"),
    "format width": ("{{ '{:>{w}}'.format('x', w=10**10) }}", "a str.format() field width"),
    "format filter": ("{{ '%*s'|format(10**10, 'x') }}", "a %-format field width"),
    "power": ("{{ 10 ** 100000000 }}", "a number of about 100,000,000 digits"),
    "lipsum": ("{{ lipsum(100000, max=100000) }}", "lipsum(100000, max=100000)"),
    "batch filter": ("{{ [1]|batch(10**9, 'x')|list }}", "batch()/slice() pieces"),
    "output": (
        "{% set x = 'x' * 1000000 %}{% for i in range(99) %}{{ x }}{% endfor %}",
        "the rendered text of 2,000,000 characters",
    ),
}


@pytest.mark.parametrize("source", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_a_runaway_render_stops_at_the_time_bound(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render(source, {}, step="outline", limits=FAST)
    assert time.monotonic() - started < 5
    timed_out = (
        "step 'outline': prompt template stopped after 0.3s "
        "(limits.template_seconds in mediamix.yaml)"
    )
    if source == RUNAWAY["nested loops"]:
        # It prints as it loops: on a fast machine the size bound may come first.
        assert str(caught.value) == timed_out or "the rendered text of" in str(caught.value)
    else:
        assert str(caught.value) == timed_out


@pytest.mark.parametrize(("source", "said"), HUGE.values(), ids=HUGE.keys())
def test_a_huge_value_is_refused_before_it_is_built(source: str, said: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"^step 'outline': prompt template stopped: ") as e:
        render(source, {}, step="outline", limits=FAST)
    assert said in str(e.value)
    assert time.monotonic() - started < 5


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "{{ title|center(20) }}|{% for s in sections %}{{ loop.index }}. {{ s|upper }} "
        "{% endfor %}|{{ 'ab' * 3 }}|{{ '%05d' % 42 }}|{{ '{:>6}'.format('r') }}|"
        "{{ ', '.join(sections) }}|{{ 2 ** 10 }}|{{ sections|join('/')|replace('/', ' / ') }}"
    )
    context = {"title": "T", "sections": ["a", "b"]}
    assert render(source, context, step="s") == (
        "T".center(20).lstrip() + "|1. A 2. B |ababab|00042|     r|a, b|1024|a / b"
    )
    assert evaluate("range(3)|list", {}, step="s", what="for_each") == [0, 1, 2]
    with pytest.raises(TemplateError, match="for_each expression stopped: a repeated value"):
        evaluate("['x'] * 10**9", {}, step="s", what="for_each")


def test_a_run_and_a_batch_stop_at_the_bounds_set_in_mediamix_yaml(
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline = {
        **PIPELINE,
        "steps": [{**PIPELINE["steps"][0], "prompt": "{{ inputs.topic * inputs.n }}"}],  # type: ignore[index]
    }
    project = batch_project(tmp_path, fake, monkeypatch, pipeline=pipeline)
    settings = (project.root / "mediamix.yaml").read_text()
    project.write(
        "mediamix.yaml",
        settings + "limits: {template_seconds: 0.5, template_output_chars: 100000}\n",
    )
    root = str(project.root)

    code, out, err = mediamix(capsys, "-C", root, "run", "notes", "-i", "topic=ab", "-i", "n=3")
    assert code == 0, err  # a small value renders
    code, out, err = mediamix(
        capsys, "-C", root, "run", "notes", "-i", "topic=x", "-i", "n=100000000", "--json"
    )
    assert code == 1, err
    [job] = json.loads(out)["jobs"]
    assert job["status"] == "failed" and job["error_class"] == "template"
    assert job["error"] == (
        "step 'note': prompt template stopped: a repeated value of 100,000,000 "
        "characters is over the limit of 100,000 (limits.template_output_chars in mediamix.yaml)"
    )

    # In a batch, the row whose data blows the bound fails alone; the others run.
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"topic": "a", "n": 2}\n{"topic": "x", "n": 100000000}\n{"topic": "b", "n": 1}\n'
    )
    calls = fake.state.count("/chat/completions")
    code, out, err = mediamix(capsys, "-C", root, "batch", "notes", str(rows), "--json")
    assert code == 1, err
    summary = json.loads(out)
    assert (summary["rows_succeeded"], summary["rows_failed"]) == (2, 1)
    assert fake.state.count("/chat/completions") == calls + 2
    failed = query(project.root, "SELECT error FROM jobs WHERE error_class = 'template'")
    assert len(failed) == 2 and all("template_output_chars" in f["error"] for f in failed)

    # The nested loop, with the time bound.
    loops = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}x"
    pipeline["steps"] = [{**PIPELINE["steps"][0], "prompt": loops}]  # type: ignore[index]
    project.write("pipelines/notes.yaml", json.dumps(pipeline))
    started = time.monotonic()
    code, out, err = mediamix(capsys, "-C", root, "run", "notes", "-i", "topic=x", "--json")
    assert code == 1 and time.monotonic() - started < 10
    [job] = json.loads(out)["jobs"]
    assert "prompt template stopped after 0.5s (limits.template_seconds" in job["error"]


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ("{template_seconds: 0}", "limits.template_seconds"),
        ("{template_output_chars: -1}", "limits.template_output_chars"),
        ("{template_secs: 1}", "template_secs"),
    ],
)
def test_limits_are_checked_by_the_schema(
    limits: str,
    said: str,
    tmp_path: Path,
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = batch_project(tmp_path, fake, monkeypatch)
    settings = (project.root / "mediamix.yaml").read_text()
    project.write("mediamix.yaml", settings + f"limits: {limits}\n")
    code, _, err = mediamix(capsys, "-C", str(project.root), "validate")
    assert code == 1 and "mediamix.yaml:" in err and said in err, err


def test_inputs_read_by_name_and_the_sandbox_still_guards_the_rest() -> None:
    # inputs.NAME is read straight from the inputs (the render a batch makes twice a row);
    # what is not an input, or starts with "_", still meets the sandbox and strict names.
    names = template_names(
        inputs={"items": [1, 2], "topic": "tea", "_x": 1},
        outputs={},
        pipeline="p",
        run={"id": "r", "started_at": "t"},
    )
    assert render("{{ inputs.items|length }} {{ inputs.topic }}", names, step="s") == "2 tea"
    for source in ("{{ inputs._x }}", "{{ inputs._data }}", "{{ inputs.__class__ }}"):
        with pytest.raises(TemplateError, match="unsafe"):
            render(source, names, step="s")
    with pytest.raises(TemplateError, match="topik"):
        render("{{ inputs.topik }}", names, step="s")
