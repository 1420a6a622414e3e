"""pytest fixtures: one fake server per test session (per xdist worker), reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeprovider.server import FakeProviderServer


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The session's fake server with faults, request log, rate limits and tasks cleared."""
    fake_server.state.reset()
    yield fake_server
    fake_server.state.reset()
