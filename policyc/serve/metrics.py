"""Prometheus metrics: requests by route and status, latency, decisions by program, bundle reloads, and the
state of every bundle source (read from the registry when scraped).

One registry per app, so several apps (tests) never share counters. With several workers each process counts
its own requests; set PROMETHEUS_MULTIPROC_DIR (an empty directory, before the server starts) to have /metrics
sum the counters and histograms of all workers (prometheus_client's multiprocess mode). The bundle gauges are
always those of the worker that answers the scrape: every worker polls the same files, so they agree once each
has checked.
"""
from __future__ import annotations

import os
import time

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, disable_created_metrics,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily

from .registry import Registry

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _BundleCollector:
    """Gauges computed at scrape time from the registry's sources."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def describe(self):
        return []

    def collect(self):
        snap = self.registry.snapshot
        info = GaugeMetricFamily("policyc_bundle_info", "每个已加载的规则包（值恒为 1）",
                                 labels=["key", "id", "version", "sha256", "signer", "path", "default"])
        loaded_at = GaugeMetricFamily("policyc_bundle_loaded_timestamp_seconds", "规则包加载的时间",
                                      labels=["key", "path"])
        failing = GaugeMetricFamily("policyc_bundle_reload_failing",
                                    "该来源的文件当前是否无法加载（1：正在使用上一个有效版本或没有版本）", labels=["path"])
        error = GaugeMetricFamily("policyc_bundle_last_reload_error",
                                  "该来源最近一次加载失败的时间及错误（文件恢复有效后消失）",
                                  labels=["path", "code", "message"])
        for src in self.registry.sources:
            b = src.loaded
            if b is not None:
                info.add_metric([b.key, b.id, b.version, b.sha256, b.signer or "", b.path,
                                 "true" if snap.default is b else "false"], 1)
                loaded_at.add_metric([b.key, b.path], b.loaded_ts)
            failing.add_metric([src.path], 1 if src.error is not None else 0)
            if src.error is not None:
                error.add_metric([src.path, src.error["code"], src.error["message"][:200]], src.error["ts"])
        count = GaugeMetricFamily("policyc_bundles_loaded", "已加载的规则包版本数")
        count.add_metric([], len(snap.bundles))
        yield from (info, loaded_at, failing, error, count)


class Metrics:
    def __init__(self, bundles: Registry):
        disable_created_metrics()  # no *_created series beside every counter (process-wide, as the server is)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("policyc_http_requests", "HTTP 请求数（按路由、方法、状态码）",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("policyc_http_request_duration_seconds", "HTTP 请求处理耗时（秒）",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self.decisions = Counter("policyc_decisions", "作出的决定数（按程序、规则包）", ["program", "bundle"],
                                 registry=self.registry)
        self.refusals = Counter("policyc_decision_problems", "未能作出决定的请求（按错误代码）", ["code"],
                                registry=self.registry)
        self.reloads = Counter("policyc_bundle_reloads", "规则包加载尝试（ok 成功，failed 被拒绝）",
                               ["path", "result"], registry=self.registry)
        self.log_failures = Counter("policyc_decision_log_failures", "未能写入决定日志、因而未答复的决定数",
                                    registry=self.registry)
        self._decided: dict = {}  # (program, bundle) → counter child: labels() is not free
        self.started = time.time()
        self._bundles = _BundleCollector(bundles)
        self.registry.register(self._bundles)

    def reload(self, path: str, ok: bool) -> None:
        self.reloads.labels(path, "ok" if ok else "failed").inc()

    def decided(self, programs, bundle_key: str) -> None:
        for program in programs:
            child = self._decided.get((program, bundle_key))
            if child is None:
                child = self._decided[(program, bundle_key)] = self.decisions.labels(program, bundle_key)
            child.inc()

    def render(self) -> tuple[bytes, str]:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            merged.register(self._bundles)
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request by route template (never the raw path, so ids and typos do not
    create series) and status, and times it until its last body byte is sent (streamed batches included)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(name, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - start)
