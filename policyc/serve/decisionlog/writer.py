"""AsyncLogWriter: group commit for the service, so concurrent requests share one transaction of the log."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from .errors import DecisionLogError
from .store import DecisionLog


def _settle(batch, err) -> None:
    for _, fut in batch:
        if fut.done():  # its waiter was cancelled: the entry is written all the same
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)
            fut.exception()  # mark retrieved: a waiter that went away must not leave "exception never retrieved"


class AsyncLogWriter:
    """Group commit: `await writer.submit(entry)` returns once the entry is committed (raising what the write
    raised otherwise). One task on the service's event loop takes what has queued up, waits up to `max_delay`
    seconds for more (while the batch is below `max_batch`), writes the batch with `log.record` in a thread of its
    own, and wakes every waiter of that batch. While a batch is being written the next one gathers, so under load
    batches grow by themselves: that is why `max_delay` defaults to 0 (measured: lingering only added latency).
    Use on one event loop; `close()` flushes what was submitted (not the log itself)."""

    def __init__(self, log: DecisionLog, max_batch: int = 64, max_delay: float = 0.0):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.log = log
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self.batches = 0  # statistics for metrics: batches and entries committed, batches failed
        self.entries = 0
        self.failures = 0

    def start(self) -> None:
        """Start the writer task on the running event loop (submit starts it too when needed)."""
        if self._task is not None:
            return
        if self._closing:
            raise DecisionLogError("L0004", "决策日志写入器已关闭")
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyc-decision-log")
        self._task = loop.create_task(self._run(), name="policyc-decision-log")

    async def submit(self, entry: dict) -> None:
        if self._closing:
            raise DecisionLogError("L0004", "决策日志写入器已关闭，不再接受记录")
        if self._task is None:
            self.start()
        elif self._task.done():
            raise DecisionLogError("L0004", "决策日志写入器已停止")
        fut = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, fut))
        # the entry is written even if this waiter is cancelled; the waiter just stops waiting
        await fut

    async def _run(self) -> None:
        q, loop = self._queue, asyncio.get_running_loop()
        batch: list = []
        try:
            while True:
                item = await q.get()
                if item is None:
                    return
                batch = [item]
                stop = await self._gather(q, loop, batch)
                try:
                    await loop.run_in_executor(self._executor, self.log.record, [e for e, _ in batch])
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # every waiter of the batch learns of it; later batches go on
                    self.failures += 1
                    _settle(batch, err)
                else:
                    self.batches += 1
                    self.entries += len(batch)
                    _settle(batch, None)
                batch = []
                if stop:
                    return
        except asyncio.CancelledError:  # the loop is shutting down: nobody may wait for ever
            err = DecisionLogError("L0004", "决策日志写入被中断，未确认是否已写入")
            _settle(batch, err)
            while not q.empty():
                item = q.get_nowait()
                if item is not None:
                    _settle([item], err)
            raise

    async def _gather(self, q, loop, batch) -> bool:
        """Add what is queued (waiting up to max_delay for more) until the batch is full; True if close() was
        asked for meanwhile."""
        deadline = loop.time() + self.max_delay
        while len(batch) < self.max_batch:
            try:
                item = q.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    item = await asyncio.wait_for(q.get(), remaining)
                except asyncio.TimeoutError:
                    return False
            if item is None:
                return True
            batch.append(item)
        return False

    async def close(self) -> None:
        """Write everything submitted so far, then stop."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        try:
            await self._task
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self):
        self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()
