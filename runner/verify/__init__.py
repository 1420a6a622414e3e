"""``mediamix verify``: the verification matrix (media type x workflow), JUnit and Markdown."""

from runner.verify.matrix import (
    PROMPTS,
    WORKFLOWS,
    Case,
    CaseResult,
    VerifyResult,
    all_cases,
    verify,
)
from runner.verify.reports import junit_xml, markdown_summary

__all__ = [
    "PROMPTS",
    "WORKFLOWS",
    "Case",
    "CaseResult",
    "VerifyResult",
    "all_cases",
    "junit_xml",
    "markdown_summary",
    "verify",
]
