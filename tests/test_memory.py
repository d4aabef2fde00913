"""Rules particular to the in-memory store: thread safety, no whole-stream copies, lifecycle."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc

import pytest

from backends.memory import MemoryStore, open_store
from harness.contract import ANY, NewEvent, StoreUnavailable, StreamWrite, WrongExpectedVersion


def test_threads_appending_at_once_lose_nothing() -> None:
    store = MemoryStore()
    wins: list[int] = []

    def worker(n: int) -> None:
        async def run() -> None:
            for i in range(200):
                version = await store.stream_version("hot")
                try:
                    await store.append(
                        StreamWrite("hot", version, [NewEvent("T", {"n": n, "i": i})])
                    )
                    wins.append(1)
                except WrongExpectedVersion:
                    pass
                await store.append(StreamWrite(f"own-{n}", ANY, [NewEvent("T")]))

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def check() -> None:
        hot = await store.read_stream("hot").collect()
        assert len(hot) == len(wins) == await store.stream_version("hot")
        assert [e.stream_version for e in hot] == list(range(1, len(hot) + 1))
        everything = await store.read_all().collect()
        assert len(everything) == len(wins) + 8 * 200
        assert [e.position for e in everything] == list(range(1, len(everything) + 1))

    asyncio.run(check())


async def test_a_streamed_read_does_not_copy_the_stream() -> None:
    store = MemoryStore()
    payload = {"text": "x" * 200}
    await store.append(StreamWrite("big", ANY, [NewEvent("T", payload) for _ in range(20_000)]))

    async def peak(streamed: bool) -> int:
        tracemalloc.start()
        try:
            if streamed:
                async with store.read_stream("big", batch_size=100) as stream:
                    async for _ in stream:
                        pass
            else:
                await store.read_stream("big").collect()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    collected, streamed = await peak(False), await peak(True)
    # Collected holds 20,000 decoded events at once; streamed holds about one batch.
    assert streamed * 20 < collected, (streamed, collected)


async def test_a_closed_store_refuses_work() -> None:
    store = MemoryStore()
    async with store:
        await store.append(StreamWrite("s", ANY, [NewEvent("T")]))
    with pytest.raises(StoreUnavailable):
        await store.append(StreamWrite("s", ANY, [NewEvent("T")]))
    with pytest.raises(StoreUnavailable):
        await store.read_stream("s").collect()


def test_open_store_takes_only_memory_urls() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(ValueError, match="memory://"):
        open_store("sqlite:x.db")
