"""Adaptive micro-batching: concurrent predict calls share one estimator call, run off the event loop.

Under load, requests that arrive while a batch is computing form the next batch, so per-call overhead of
the estimator (input checks, dispatch) is paid once per batch instead of once per request. With a single
client the batch is one request and the only cost is the thread hop. No timer, so no added latency.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.serving.state import Served

Prediction = tuple[list[Any], list[list[float]] | None]


@dataclass
class _Item:
    served: Served
    matrix: npt.NDArray[np.float64]
    future: asyncio.Future[Prediction]


class Overloaded(RuntimeError):
    """The queue already holds as many rows as allowed; the caller should shed the request (503)."""


class Batcher:
    """Queue of pending predictions drained by one worker task; at most `max_rows` rows per estimator call."""

    def __init__(self, max_rows: int, max_queued_rows: int | None = None) -> None:
        self.max_rows = max_rows
        # Waiting rows are latency for everyone behind them: past this, refusing fast beats queueing.
        self.max_queued_rows = max_queued_rows
        self.queued_rows = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker (inside the running loop, i.e. from the app lifespan)."""
        self._worker = asyncio.create_task(self._run(), name="predict-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still queued get an error rather than hanging."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("server shutting down"))

    async def predict(self, served: Served, matrix: npt.NDArray[np.float64]) -> Prediction:
        """Predictions for matrix by served's model (the model is pinned per request); Overloaded if full."""
        rows = matrix.shape[0]
        # An empty queue always admits one request, so a cap below max_rows cannot starve the server.
        cap = self.max_queued_rows
        if cap is not None and self.queued_rows and self.queued_rows + rows > cap:
            raise Overloaded(f"{self.queued_rows} rows already queued")
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(served, matrix, future))
        self.queued_rows += rows
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            rows = batch[0].matrix.shape[0]
            while not self._queue.empty() and rows < self.max_rows:
                nxt = self._queue.get_nowait()
                batch.append(nxt)
                rows += nxt.matrix.shape[0]
            self.queued_rows -= rows
            # One estimator call per model in the batch (a reload may land between two requests).
            groups: dict[int, list[_Item]] = {}
            for item in batch:
                groups.setdefault(id(item.served), []).append(item)
            for items in groups.values():
                await self._predict_group(items)

    async def _predict_group(self, items: list[_Item]) -> None:
        served = items[0].served
        try:
            results = await asyncio.to_thread(_predict_many, served, [i.matrix for i in items])
        except Exception as exc:  # delivered to each waiting request, which maps it to a 4xx
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, result in zip(items, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)


def _predict_many(served: Served, matrices: list[npt.NDArray[np.float64]]) -> list[Prediction | Exception]:
    """Stack, predict once, split back; if the stacked call fails, isolate the failing request."""
    if len(matrices) == 1:
        return [_predict_one(served, matrices[0])]
    stacked = np.vstack(matrices)
    try:
        predictions, probabilities = served.model.predict(stacked)
    except ValueError:
        return [_predict_one_or_error(served, m) for m in matrices]
    if served.drift is not None:
        served.drift.observe(stacked)
    out: list[Prediction | Exception] = []
    start = 0
    for m in matrices:
        end = start + m.shape[0]
        out.append((predictions[start:end], None if probabilities is None else probabilities[start:end]))
        start = end
    return out


def _predict_one(served: Served, matrix: npt.NDArray[np.float64]) -> Prediction:
    result = served.model.predict(matrix)
    if served.drift is not None:
        served.drift.observe(matrix)
    return result


def _predict_one_or_error(served: Served, matrix: npt.NDArray[np.float64]) -> Prediction | Exception:
    try:
        return _predict_one(served, matrix)
    except ValueError as exc:
        return exc
