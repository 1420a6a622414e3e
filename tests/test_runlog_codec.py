"""Run-log lines: whatever a record holds and whatever the secrets look like, the line is
valid JSON with every secret blanked inside its strings and nothing else changed."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import SecretRedactor
from runner.runlog import codec

T0 = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)

# Lone surrogates too: a batch row's JSON may hold "\\ud800", and its line must stay UTF-8.
_text = st.one_of(st.text(max_size=12), st.sampled_from(["\ud800", "é\udfff🎬"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.sampled_from([T0, T0.astimezone(timezone(timedelta(hours=5))), T0.replace(tzinfo=None)]),
    st.builds(Path, st.sampled_from(["a/b.png", "out"])),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_text, inner, max_size=4),
    ),
    max_leaves=12,
)
# Secrets made of what keys are made of, and of what makes line-level blanking unsafe:
# quotes, backslashes, control characters, digits and the letters of true/false/null.
_secrets = st.lists(
    st.one_of(
        st.text(alphabet="abcdefXYZ0123456789-_", min_size=6, max_size=10),
        st.text(alphabet='0123456789.,:[]{}-eE"\\\n\ttruefalsn', min_size=6, max_size=8),
    ),
    max_size=3,
)


class _Instant:
    """A time as a line may spell it: ISO text with its offset, or naive UTC text (the
    value-by-value path), either of which DuckDB reads as the same UTC TIMESTAMP."""

    def __init__(self, value: datetime) -> None:
        self.utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return NotImplemented
        try:
            read = datetime.fromisoformat(other)
        except ValueError:
            return False
        return (read if read.tzinfo is not None else read.replace(tzinfo=UTC)) == self.utc

    def __repr__(self) -> str:
        return f"_Instant({self.utc.isoformat()})"


def _expected(value: Any, redactor: SecretRedactor) -> Any:
    """What the run log must hold for ``value``: strings blanked one by one, times as the
    same UTC instant, non-finite numbers as null, anything else as its text."""
    if isinstance(value, str):
        return redactor.redact(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _Instant(value)
    if isinstance(value, dict):
        return {redactor.redact(k): _expected(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v, redactor) for v in value]
    return redactor.redact(str(value))


# The monkeypatch is set afresh for every example; nothing carries over between them.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(st.sampled_from(["a", "b", "message", "data"]), _values),
    secrets=_secrets,
    embed=st.booleans(),
)
def test_a_line_is_the_record_with_every_secret_blanked(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], secrets: list[str], embed: bool
) -> None:
    redactor = SecretRedactor()
    for secret in secrets:
        redactor.add(secret)
    if embed and secrets:  # the secret inside a string, beside JSON's own characters
        fields["message"] = f'x"{secrets[0]}\\ {secrets[0]}'
        fields["data"] = {secrets[0]: [secrets[0], 1, "," + secrets[0] + ":"]}
    monkeypatch.setattr(codec, "REDACTOR", redactor)
    monkeypatch.setattr(codec, "redact", redactor.redact)

    line = codec.encode_line("events", 7, fields)

    assert line.endswith(b"\n") and line.count(b"\n") == 1  # one journal line
    decoded = json.loads(line.decode("utf-8"))  # always valid JSON in valid UTF-8
    expected = {k: _expected(v, redactor) for k, v in fields.items() if v is not None}
    assert decoded == {**expected, "table": "events", "seq": 7}
    texts = list(_strings(decoded))
    for secret in secrets:
        if len(secret) >= 6:
            assert not any(secret in text for text in texts)
            if not set(secret) <= set("0123456789+-.eE"):
                # A secret of digits may match a number, which is no string to blank.
                assert secret.encode("utf-8", "surrogatepass") not in line


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded line: keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_a_key_shaped_secret_is_blanked_in_values_keys_and_nesting() -> None:
    redactor = SecretRedactor()
    redactor.add("sk-live-abc123")
    line = redactor.redact_json(
        b'{"m":"Bearer sk-live-abc123","sk-live-abc123":[1,"sk-live-abc123x"]}'
    )
    assert line == b'{"m":"Bearer [REDACTED]","[REDACTED]":[1,"[REDACTED]x"]}'


def test_a_secret_that_could_match_json_syntax_is_not_blanked_line_wide() -> None:
    """Digits (a number), a quote (across two strings), a backslash (an escape): such a
    secret makes the caller blank string by string instead."""
    for odd in ("12345678", 'ab"cdefg', "abc\\defg", "true,false"):
        redactor = SecretRedactor()
        redactor.add("sk-live-abc123")
        redactor.add(odd)
        assert redactor.redact_json(b'{"n":12345678}') is None


def test_duckdb_reads_every_time_of_a_line_as_its_utc_instant(tmp_path: Path) -> None:
    """Ingest reads lines with ``read_json`` into TIMESTAMP columns: an offset is applied,
    a naive time is taken as UTC (what the value-by-value path writes)."""
    lines = tmp_path / "batch.jsonl"
    lines.write_bytes(
        codec.encode_line("events", 1, {"moment": T0})
        + codec.encode_line("events", 2, {"moment": T0.astimezone(timezone(timedelta(hours=5)))})
        + codec.encode_line("events", 3, {"moment": T0.replace(tzinfo=None)})
        + codec.encode_line("events", 4, {"moment": T0, "n": 2**70})  # the value-by-value path
    )
    read = duckdb.sql(
        f"SELECT moment FROM read_json('{lines}', format = 'newline_delimited', "
        "columns = {'moment': 'TIMESTAMP', 'n': 'HUGEINT'}) ORDER BY moment"
    ).fetchall()
    assert read == [(T0.replace(tzinfo=None),)] * 4
