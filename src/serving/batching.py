"""Dynamic batching: concurrent requests gathered into one model call."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

Arrays = dict[str, np.ndarray]


@dataclass
class _Pending:
    arrays: Arrays
    size: int
    done: asyncio.Future[np.ndarray]


class DynamicBatcher:
    """Runs ``run`` on the samples of every request waiting, up to ``max_batch_size`` at once.

    One model call runs at a time, in a worker thread, so the event loop keeps accepting
    requests meanwhile; those that arrive during a call form the next batch. With
    ``max_wait_ms`` > 0 a batch also waits that long for more. Requests are never split, so a
    request larger than ``max_batch_size`` runs alone.

    Args:
        run: named input arrays (N, ...) -> output (N, ...).
        max_batch_size: samples per model call.
        max_wait_ms: how long a batch waits for more requests; 0 runs what is queued at once
            (no added latency when idle, batches as large as the load makes them).
    """

    def __init__(
        self, run: Callable[[Arrays], np.ndarray], max_batch_size: int, max_wait_ms: float
    ) -> None:
        self.run, self.max_batch_size, self.max_wait_s = run, max_batch_size, max_wait_ms / 1000
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.task: asyncio.Task[None] | None = None
        self.carried: _Pending | None = None  # would have overfilled the last batch
        self.calls = 0  # model calls so far, for /metadata and the benchmark

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, arrays: Arrays) -> np.ndarray:
        """The model's output for one request's samples, computed with other requests'."""
        done: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        size = len(next(iter(arrays.values())))
        await self.queue.put(_Pending(arrays, size, done))
        return await done

    async def _gather(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        pending = [self.carried or await self.queue.get()]
        self.carried = None
        size, deadline = pending[0].size, loop.time() + self.max_wait_s
        while size < self.max_batch_size:
            try:
                if self.queue.empty():
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                else:
                    item = self.queue.get_nowait()
            except TimeoutError:
                break
            if size + item.size > self.max_batch_size:
                self.carried = item  # first of the next batch
                break
            pending.append(item)
            size += item.size
        return pending

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = await self._gather()
            names = list(pending[0].arrays)
            batch = {n: np.concatenate([p.arrays[n] for p in pending]) for n in names}
            try:
                out = await loop.run_in_executor(self.executor, self.run, batch)
            except Exception as e:
                for p in pending:
                    if not p.done.done():
                        p.done.set_exception(e)
                continue
            self.calls += 1
            start = 0
            for p in pending:
                if not p.done.done():  # its client may have gone
                    p.done.set_result(out[start : start + p.size])
                start += p.size
