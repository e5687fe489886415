"""Group commit (shared/group_commit.py): who is written with whom, and who hears what."""

from __future__ import annotations

import asyncio

import pytest

from shared.group_commit import GroupCommit, GroupWriteInterruptedError, each_alone_on


class Recorder:
    """A write that records each group and can be held open, like a statement in flight."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, items: list[int]) -> list[int | Exception]:
        self.groups.append(list(items))
        self.writing.set()
        await self.release.wait()
        return [ValueError(item) if item < 0 else item * 10 for item in items]


async def test_a_lone_item_is_written_at_once() -> None:
    recorder = Recorder()
    assert await GroupCommit(recorder.write).submit(1) == 10
    assert recorder.groups == [[1]]


async def test_items_arriving_during_a_write_are_written_together_next() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write)
    recorder.release.clear()
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)  # the first group's write is in flight
    later = [asyncio.create_task(commit.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert recorder.groups == [[1], [2, 3, 4]]


async def test_lingering_gathers_items_into_one_group() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write, linger_s=0.01)
    assert await asyncio.gather(*(commit.submit(n) for n in (1, 2, 3))) == [10, 20, 30]
    assert recorder.groups == [[1, 2, 3]]


async def test_an_item_refused_fails_its_caller_only() -> None:
    commit = GroupCommit(Recorder().write, linger_s=0.01)
    outcomes = await asyncio.gather(
        commit.submit(1), commit.submit(-2), commit.submit(3), return_exceptions=True
    )
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)


async def test_a_failed_write_fails_every_caller_of_its_group() -> None:
    async def unavailable(items: list[int]) -> list[int | Exception]:
        raise ConnectionError("database away")

    commit = GroupCommit(unavailable, linger_s=0.01)
    outcomes = await asyncio.gather(commit.submit(1), commit.submit(2), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)


async def test_the_writers_cancellation_does_not_leave_its_group_waiting() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write, linger_s=0.01)
    recorder.release.clear()
    writer = asyncio.create_task(commit.submit(1))
    other = asyncio.create_task(commit.submit(2))
    await recorder.writing.wait()
    writer.cancel()
    with pytest.raises(GroupWriteInterruptedError):
        await other
    assert writer.cancelled()


async def test_a_group_failing_on_one_item_is_written_one_by_one() -> None:
    statements: list[list[int]] = []

    async def write(items: list[int]) -> None:
        statements.append(list(items))
        if -1 in items:
            raise KeyError("a unique key")

    written = each_alone_on(KeyError, write)
    outcomes = await written([1, -1, 2])
    assert statements == [[1, -1, 2], [1], [-1], [2]]
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], KeyError)
    assert await written([3]) == [None]
    with pytest.raises(ValueError):  # another failure is the whole group's
        await each_alone_on(KeyError, _raise_value_error)([4, 5])


async def _raise_value_error(items: list[int]) -> None:
    raise ValueError(items)
