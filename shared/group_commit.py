"""Group commit: writes that arrive together go to the database together.

On this kind of machine a round trip to PostgreSQL costs more CPU (both sides) than the work it
carries, so when many callers each want one small write at the same time, one statement for all
of them is far cheaper. Callers still each wait for their own outcome: nothing is answered before
it is committed. At a low rate nobody waits for anybody (a group of one is written at once); under
load the groups grow by themselves, since callers arriving while a write runs form the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class GroupWriteInterruptedError(Exception):
    """The task writing a group was cancelled: the write may or may not have committed."""


@dataclass
class _Group(Generic[Item, Outcome]):
    items: list[Item] = field(default_factory=list)
    outcomes: Sequence[Outcome | Exception] = ()
    written: asyncio.Event = field(default_factory=asyncio.Event)


class GroupCommit(Generic[Item, Outcome]):
    """`write` gets every item of a group and returns each one's outcome, in order, or the
    exception to raise to that item's caller alone; an exception it raises goes to every caller
    of the group. One group is written at a time, by its first caller; `linger_s` lets a group
    wait a little for more items (more batching, more latency). Every caller of a group goes on
    at the same moment, once it is written. A group whose first caller is cancelled fails with
    GroupWriteInterruptedError (written or not)."""

    def __init__(
        self,
        write: Callable[[list[Item]], Awaitable[Sequence[Outcome | Exception]]],
        *,
        linger_s: float = 0.0,
    ) -> None:
        self._write = write
        self._linger_s = linger_s
        self._forming: _Group[Item, Outcome] = _Group()
        self._one_write_at_a_time = asyncio.Lock()

    async def submit(self, item: Item) -> Outcome:
        group = self._forming
        group.items.append(item)
        position = len(group.items) - 1
        if position == 0:
            await self._write_in_turn(group)
        else:
            await group.written.wait()
        outcome = group.outcomes[position]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _write_in_turn(self, group: _Group[Item, Outcome]) -> None:
        try:
            async with self._one_write_at_a_time:  # the group grows while the previous is written
                if self._linger_s:
                    await asyncio.sleep(self._linger_s)
                self._forming = _Group()
                group.outcomes = await self._write(group.items)
        except Exception as error:
            group.outcomes = [error] * len(group.items)
        except BaseException:  # the first caller cancelled: the others must not hang
            group.outcomes = [GroupWriteInterruptedError()] * len(group.items)
            raise
        finally:
            if self._forming is group:  # nobody joins a group that is over
                self._forming = _Group()
            group.written.set()


def each_alone_on(
    failure: type[Exception] | tuple[type[Exception], ...],
    write: Callable[[list[Item]], Awaitable[None]],
) -> Callable[[list[Item]], Awaitable[list[Exception | None]]]:
    """A group write for `GroupCommit` that, when the group's one statement fails with
    `failure` (one item colliding with a unique key, one whose data PostgreSQL refuses), writes
    each item alone, so that the failure is that item's only and the others are written."""

    async def written(items: list[Item]) -> list[Exception | None]:
        try:
            await write(items)
            return [None] * len(items)
        except failure as error:
            if len(items) == 1:
                return [error]
        outcomes: list[Exception | None] = []
        for item in items:
            try:
                await write([item])
                outcomes.append(None)
            except failure as error:
                outcomes.append(error)
        return outcomes

    return written
