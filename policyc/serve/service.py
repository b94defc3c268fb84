"""The service's state and its one job: a request in, a decision (or a problem) out, logged before it is answered.

Single decisions are evaluated on the event loop: one takes ~0.5–3 ms of pure Python, and handing it to a thread
costs more than it saves (the GIL lets no two evaluations run at once, see docs/service.md for the measurements).
Batches are evaluated in a worker thread, chunk by chunk, so a long batch never stalls the other requests.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from dataclasses import dataclass

import anyio

from policyc.runtime import RuntimeFault

from .bodies import Selector, check_members, parse_json, parse_selector, take_selector
from .config import ServeConfig
from .metrics import Metrics
from .problems import Problem, fault_json, plain_json
from .registry import Loaded, Registry, Snapshot, load_keys

log = logging.getLogger("policyc.serve")

CHUNK = 64  # batch items evaluated per worker-thread call (and per NDJSON write)


@dataclass(frozen=True)
class Options:
    """What the query string of a decision request says, checked once per request."""

    selector: Selector | None
    programs: list[str] | None
    locality: str | None
    date: str | None


@dataclass
class Answer:
    """One evaluated item: the JSON text to send, with the log entry to commit first; or a problem."""

    text: str
    entry: dict | None = None
    loaded: Loaded | None = None
    programs: tuple = ()
    problem: bool = False


def parse_options(query) -> Options:
    raw = query.get("bundle")
    selector = parse_selector(raw, "?bundle") if raw is not None else None
    programs = [p.strip() for value in query.getlist("programs") for p in value.split(",") if p.strip()] or None
    date = query.get("date")
    if date is not None:
        try:
            if len(date) != 10:
                raise ValueError
            _dt.date.fromisoformat(date)
        except ValueError:
            raise Problem("S0109", [("?date", f"日期“{date[:40]}”无效，应为 YYYY-MM-DD")]) from None
    locality = query.get("locality")
    if locality is not None and not locality.strip():
        raise Problem("S0109", [("?locality", "地区不能为空")])
    return Options(selector, programs, locality, date)


class Service:
    def __init__(self, config: ServeConfig):
        self.config = config.check()
        self.admin_token = config.resolve_admin_token()
        self.registry = Registry(config.bundles, load_keys(config.verify_keys))
        self.metrics = Metrics(self.registry)
        self.registry.on_attempt = self.metrics.reload
        self.log = None
        self.writer = None
        self._poller: asyncio.Task | None = None

    # ── lifecycle (Starlette lifespan) ────────────────────────────────────────────────────────────────────────
    async def start(self) -> None:
        if self.config.decision_log:
            from .decisionlog import AsyncLogWriter, open_log
            self.log = await anyio.to_thread.run_sync(open_log, self.config.decision_log)
            self.writer = AsyncLogWriter(self.log)
            self.writer.start()
        await self.registry.refresh(force=True)
        if not self.registry.ready:
            log.error("没有任何规则包加载成功；/readyz 在有规则包加载成功之前答复 503")
        if self.config.reload_interval > 0:
            self._poller = asyncio.get_running_loop().create_task(self.registry.poll(self.config.reload_interval),
                                                                  name="policyc-bundle-poll")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except (asyncio.CancelledError, Exception):
                pass
        if self.writer is not None:
            await self.writer.close()  # everything submitted is committed before the process ends
        if self.log is not None:
            self.log.close()

    # ── deciding ──────────────────────────────────────────────────────────────────────────────────────────────
    def evaluate(self, snap: Snapshot, request, options: Options, batch: bool = False) -> Answer:
        """One request (already parsed) against the bundle it selects: the decision text, with decision_id and
        its log entry when logging is on. Problems and runtime faults propagate."""
        request, selector = take_selector(request, options.selector, strict=not batch)
        check_members(request, self.config.max_members)
        loaded = snap.select(selector)
        if isinstance(request, dict) and (options.locality is not None or options.date is not None):
            request = dict(request)  # the query's locality and date take the request's place, and are logged so
            if options.locality is not None:
                request["locality"] = options.locality
            if options.date is not None:
                request["date"] = options.date
        ev = loaded.evaluator
        text = ev.evaluate_json(request, programs=options.programs)
        programs = tuple(p for p in ev.program_ids if options.programs is None or p in options.programs)
        if self.log is None:
            return Answer(text, None, loaded, programs)
        from .decisionlog import new_decision_id
        decision_id = new_decision_id()
        text = f'{{"decision_id":"{decision_id}",{text[1:]}'
        entry = self.log.make_entry(decision_id=decision_id, request=request, decision=text,
                                    bundle=dict(ev.bundle_info, signer=loaded.signer))
        return Answer(text, entry, loaded, programs)

    def evaluate_item(self, snap: Snapshot, item, options: Options, index: int) -> Answer:
        """One batch item: a decision, or a problem object naming the item's index (never an exception)."""
        try:
            if isinstance(item, bytes):  # an NDJSON line
                item = parse_json(item)
            return self.evaluate(snap, item, options, batch=True)
        except Problem as p:
            return self.problem_answer(dict(p.to_json(), status=p.status), index)
        except RuntimeFault as err:
            self.metrics.refusals.labels(err.code).inc()
            return self.problem_answer(dict(fault_json(err), status=422), index)
        except Exception:  # noqa: BLE001 — logged here, never shown
            log.exception("批量请求第 %d 条评估失败", index)
            p = Problem("S0501")
            return self.problem_answer(dict(p.to_json(), status=p.status), index)

    @staticmethod
    def problem_answer(obj: dict, index: int) -> Answer:
        return Answer(plain_json({"index": index, **obj}), problem=True)

    def evaluate_many(self, snap: Snapshot, items, options: Options, start: int) -> list[Answer]:
        return [self.evaluate_item(snap, item, options, start + i) for i, item in enumerate(items)]

    async def commit(self, answers: list[Answer]) -> None:
        """Every entry of these answers committed to the decision log (raises if any write failed)."""
        entries = [a.entry for a in answers if a.entry is not None]
        if not entries or self.writer is None:
            return
        results = await asyncio.gather(*(self.writer.submit(e) for e in entries), return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            self.metrics.log_failures.inc(len(entries))
            log.error("决定未能写入决定日志：%s", failed)
            raise Problem("S0403", [("$", str(failed)[:300])])

    def count(self, answers: list[Answer]) -> None:
        for a in answers:
            if a.loaded is not None:
                self.metrics.decided(a.programs, a.loaded.key)
