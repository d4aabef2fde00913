"""Finding stores: reference names and every accepted form of third-party factory."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import AsyncIterator

import pytest

from backends.memory import MemoryStore
from harness.contract import ANY, EventStore, NewEvent, StreamWrite
from harness.registry import UnknownBackend, load_factory


async def use(factory_spec: str) -> int:
    async with load_factory(factory_spec)() as store:
        await store.append(StreamWrite("s", ANY, [NewEvent("T")]))
        return await store.stream_version("s")


@pytest.fixture
def plugin_module() -> types.ModuleType:
    module = types.ModuleType("third_party_store")

    @contextlib.asynccontextmanager
    async def as_context() -> AsyncIterator[EventStore]:
        async with MemoryStore() as store:
            yield store

    async def as_generator() -> AsyncIterator[EventStore]:
        async with MemoryStore() as store:
            yield store

    async def as_coroutine() -> EventStore:
        return MemoryStore()

    module.as_context = as_context  # type: ignore[attr-defined]
    module.as_generator = as_generator  # type: ignore[attr-defined]
    module.as_coroutine = as_coroutine  # type: ignore[attr-defined]
    module.as_plain = MemoryStore  # type: ignore[attr-defined]
    module.not_a_store = lambda: object()  # type: ignore[attr-defined]

    class HalfStore:
        async def append(self, *writes: StreamWrite) -> None: ...

        async def stream_version(self, stream_id: str) -> int:
            return 0

    module.half_store = HalfStore  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


@pytest.mark.parametrize("attr", ["as_context", "as_generator", "as_coroutine", "as_plain"])
async def test_every_factory_form_gives_a_working_store(
    plugin_module: types.ModuleType, attr: str
) -> None:
    assert await use(f"third_party_store:{attr}") == 1


async def test_reference_names_resolve() -> None:
    assert await use("memory") == 1


async def test_bad_factories_say_what_is_wrong(plugin_module: types.ModuleType) -> None:
    with pytest.raises(UnknownBackend, match="known: memory"):
        load_factory("nosuch")
    with pytest.raises(UnknownBackend, match=r"sys\.path"):
        load_factory("no_such_module_here:make")
    with pytest.raises(UnknownBackend, match="no attribute"):
        load_factory("third_party_store:missing")
    with pytest.raises(TypeError, match="EventStore protocol"):
        await use("third_party_store:not_a_store")
    # A store that is half written is told what it still lacks.
    with pytest.raises(TypeError) as half:
        await use("third_party_store:half_store")
    assert str(half.value).endswith(
        "it has no capabilities, open, aclose, __aenter__, __aexit__, read_stream, read_all"
    ), half.value
