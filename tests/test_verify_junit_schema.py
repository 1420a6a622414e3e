"""`mediamix verify --junit` output is valid against Jenkins' junit-10.xsd.

The schema is vendored in tests/junit-10.xsd (MIT, from the Jenkins xUnit plugin): strict
consumers validate against it and reject the whole file when one attribute is out of place.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import xmlschema

from runner.verify import Case
from runner.verify.matrix import CaseResult, VerifyResult
from runner.verify.reports import junit_xml

XSD = Path(__file__).with_name("junit-10.xsd")


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def assert_valid_junit(xml: str | Path) -> None:
    """Raise with the schema's own reason when ``xml`` (text or a file) is not valid."""
    source = str(xml) if isinstance(xml, Path) else xml
    junit_schema().validate(source)


def _result() -> VerifyResult:
    image = Case("image", "simple")
    text = Case("text", "adaptive")
    return VerifyResult(
        results=[
            CaseResult(
                image, True, 0.5, "local/card: image/png", provider="local", model="card",
                uri="file:///tmp/x.png", run_id="r1",
            ),
            CaseResult(
                text, False, 1.25, 'every candidate failed: <"quoted" & odd> ]]> text',
                error_class="permanent", rounds=2,
            ),
        ],
        offline=True,
        time_s=1.75,
        rounds=2,
    )  # fmt: skip


def test_junit_with_a_pass_and_a_failure_is_valid_against_junit_10_xsd() -> None:
    xml = junit_xml(_result())
    assert_valid_junit(xml)
    assert "<failure" in xml and "skipped=" in xml  # skipped is on <testsuite> only


def test_the_schema_rejects_skipped_on_testsuites() -> None:
    """What strict consumers refused before: the check can fail."""
    xml = junit_xml(_result()).replace(
        '<testsuites name="mediamix verify"', '<testsuites skipped="0" name="mediamix verify"'
    )
    with pytest.raises(xmlschema.XMLSchemaValidationError, match="skipped"):
        assert_valid_junit(xml)
