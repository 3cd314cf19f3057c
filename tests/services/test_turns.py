"""Turns: CPU-heavy steps start one per event-loop iteration, in arrival order, with I/O polled in between."""

from __future__ import annotations

import asyncio

from services.serving.turns import Turns


def test_one_turn_per_loop_iteration_in_arrival_order() -> None:
    async def scenario() -> tuple[list[tuple[str, int]], int]:
        turns = Turns()
        iteration = 0
        started: list[tuple[str, int]] = []

        async def count_iterations() -> None:
            nonlocal iteration
            while True:
                await asyncio.sleep(0)
                iteration += 1

        async def step(name: str) -> None:
            await turns.take(1)
            started.append((name, iteration))

        counter = asyncio.create_task(count_iterations())
        await asyncio.gather(*(step(name) for name in "abcde"))
        counter.cancel()
        return started, iteration

    started, _ = asyncio.run(scenario())
    assert [name for name, _ in started] == list("abcde")
    iterations = [i for _, i in started]
    assert len(set(iterations)) == len(iterations), started  # never two in one iteration


def test_a_socket_poll_happens_between_two_turns() -> None:
    """A ready socket (a probe) is served between two turns, not after every waiting step."""

    async def scenario() -> list[str]:
        turns = Turns()
        events: list[str] = []
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(*await _echo_server(loop))

        async def step(name: str) -> None:
            await turns.take(1)
            events.append(name)
            if name == "a":
                writer.write(b"x")  # becomes readable for the server only after a poll

        async def probe() -> None:
            await reader.readexactly(1)
            events.append("probe")

        tasks = [asyncio.create_task(step(n)) for n in "abcdefgh"]
        await asyncio.gather(probe(), *tasks)
        writer.close()
        return events

    events = asyncio.run(scenario())
    assert events.index("probe") < len(events) - 1, events


async def _echo_server(loop: asyncio.AbstractEventLoop) -> tuple[str, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(1))
        await writer.drain()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server.sockets[0].getsockname()[:2]


def test_a_step_under_the_minimum_size_goes_at_once() -> None:
    """Small bodies skip the queue: a turn costs a loop iteration, more than parsing them."""

    async def scenario() -> list[str]:
        turns = Turns(min_size=100)
        events: list[str] = []

        async def step(name: str, size: int) -> None:
            await turns.take(size)
            events.append(name)

        big = asyncio.create_task(step("big", 100))
        await asyncio.sleep(0)  # big is now waiting for its turn
        await step("small", 99)
        await big
        return events

    assert asyncio.run(scenario()) == ["small", "big"]
