"""Artifact validation: what a file really is, and whether it is a usable artifact.

``sniff_mime``/``sniff_file`` read magic bytes; ``inspect_file`` measures (size, sha256,
dimensions, duration, pages, frames, characters); ``validate_file`` rejects placeholders
(wrong type, empty or tiny, flat images, silence, zero pages or frames, blank text) and
applies a preset's ``validate:`` rules (names in ``RULE_NAMES``).
"""

from runner.validation.check import validate_file, validate_text
from runner.validation.facts import ArtifactFacts, inspect_file
from runner.validation.rules import RULE_NAMES
from runner.validation.sniff import DOCX_MIME, sniff_file, sniff_mime

__all__ = [
    "DOCX_MIME",
    "RULE_NAMES",
    "ArtifactFacts",
    "inspect_file",
    "sniff_file",
    "sniff_mime",
    "validate_file",
    "validate_text",
]
