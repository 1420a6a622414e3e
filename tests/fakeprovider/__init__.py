"""Loopback fake of the provider APIs: :class:`FakeProviderServer` and its state."""

from tests.fakeprovider.server import FakeProviderServer
from tests.fakeprovider.state import FakeState, RecordedRequest, TaskInfo

__all__ = ["FakeProviderServer", "FakeState", "RecordedRequest", "TaskInfo"]
