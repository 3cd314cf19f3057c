"""Turns on the event loop for CPU-heavy steps: at most one starts per loop iteration.

Parsing a request body holds the event loop (and the GIL) for milliseconds. When many admitted bodies arrive
in the same socket poll, their tasks would all parse in one loop iteration, one after another, and every other
connection, the probes included, would wait for all of them: 64 bodies of 1000 rows are about a second of
parsing on a contended core. Taking a turn first lets one parse run per iteration, with a poll for sockets (a
`/healthz` among them) between two parses; the order is first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    """A FIFO of tasks waiting to do a CPU-heavy step; one is let go per event-loop iteration."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._scheduled = False

    async def take(self) -> None:
        """Return when it is this task's turn: in a later loop iteration, one task per iteration, in order."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append(turn)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._give)
        await turn

    def _give(self) -> None:
        # call_soon from within a callback runs in the next iteration, after the next socket poll.
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a cancelled waiter (client gone) gives up its turn
                turn.set_result(None)
                break
        if self._waiting:
            asyncio.get_running_loop().call_soon(self._give)
        else:
            self._scheduled = False
