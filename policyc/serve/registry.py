"""The loaded bundles, keyed by id@version, and hot reload that keeps the last good version.

Each --bundle path is a *source*. A check looks at the file's (and its signature file's) mtime, size and inode;
only when they changed (or when forced) does it read the bytes and hash them, and only when the content differs
from what is loaded does it load, verify (sha256, and the signature when keys are configured) and compile the
new bundle — in a worker thread, off the request path. A good bundle replaces its source's previous one in a new
immutable snapshot that is swapped in with one assignment: a request holds the snapshot it started with, so
it never sees half a reload. A bad one is refused, its source keeps serving its last good bundle, and the error
stays on the source (GET /v1/bundles, /metrics) until the file is good again.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import inspect
import logging
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from policyc import runtime
from policyc.runtime import BundleError, Evaluator, RuntimeFault
from policyc.runtime.errtext import os_reason

from .bodies import Selector
from .problems import Problem

log = logging.getLogger("policyc.serve")

SIG_SUFFIX = ".sig"  # the runtime's default detached signature file: the bundle path plus ".sig"


def _now() -> tuple[float, str]:
    t = time.time()
    return t, _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def version_key(version: str) -> tuple:
    """Orders versions by their dot-separated parts, numbers numerically (0.10.0 after 0.9.1); a part that is
    not a number sorts before any number at the same place."""
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in re.split(r"[.\-+]", version))


@dataclass(frozen=True)
class Loaded:
    """One verified, compiled bundle."""

    evaluator: Evaluator
    id: str
    version: str
    sha256: str
    signer: str | None
    path: str
    loaded_at: str
    loaded_ts: float
    digest: str  # sha256 of the file bytes and the signature file's bytes: what a check compares

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def info(self) -> dict:
        return {"key": self.key, "id": self.id, "version": self.version, "sha256": self.sha256,
                "signer": self.signer, "path": self.path, "loaded_at": self.loaded_at}


@dataclass
class Source:
    """One --bundle path and what became of it. Changed only on the event loop, under the registry's lock."""

    path: str
    stamp: tuple | None = None
    loaded: Loaded | None = None
    error: dict | None = None  # {"code", "message", "at", "ts"} of the last failed attempt while the file is bad
    failed_digest: str | None = None
    checked_at: str | None = None
    reloads_ok: int = 0
    reloads_failed: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What requests read: immutable, replaced whole on every change."""

    bundles: dict = field(default_factory=dict)  # key → Loaded
    newest: dict = field(default_factory=dict)  # bundle id → its newest loaded version
    default: Loaded | None = None  # the newest version of all

    @classmethod
    def of(cls, loaded: list[Loaded]) -> "Snapshot":
        bundles: dict[str, Loaded] = {}
        for item in loaded:
            bundles.setdefault(item.key, item)
        order = sorted(bundles.values(), key=lambda b: (version_key(b.version), b.loaded_ts), reverse=True)
        newest: dict[str, Loaded] = {}
        for item in order:
            newest.setdefault(item.id, item)
        return cls(bundles, newest, order[0] if order else None)

    def select(self, selector: Selector | None, path: str = "bundle") -> Loaded:
        if self.default is None:
            raise Problem("S0202", [("$", "服务已启动，但没有任何规则包加载成功；见 GET /v1/bundles")])
        if selector is None:
            return self.default
        found = self.newest.get(selector.id) if selector.version is None else self.bundles.get(str(selector))
        if found is None:
            raise Problem("S0201", [(path, f"没有加载规则包 {selector}（已加载：{'、'.join(sorted(self.bundles))}）")])
        if selector.sha256 is not None and selector.sha256 != found.sha256:
            raise Problem("S0201", [(path, f"已加载的 {found.key} 的 sha256 为 {found.sha256}，不是 {selector.sha256}")])
        return found


@dataclass(frozen=True)
class _Outcome:
    kind: str  # unchanged | same | known-bad | loaded | failed
    stamp: tuple | None
    loaded: Loaded | None = None
    error: dict | None = None
    digest: str | None = None


def _stat(path: str):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _stamp(path: str) -> tuple:
    return (_stat(path), _stat(path + SIG_SUFFIX))


def _read(path: str, limit: int | None = None) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)
    except FileNotFoundError:
        return None


def _load_parameters() -> set:
    try:
        return set(inspect.signature(runtime.load).parameters)
    except (TypeError, ValueError):
        return set()


def _error(err: BaseException, code: str | None = None) -> dict:
    """A source's error: the runtime's code (R02xx a bundle that cannot be trusted, …), S0203 a bundle that
    cannot be compiled, S0204 a version already loaded from another file with other content."""
    ts, at = _now()
    if isinstance(err, RuntimeFault):
        return {"code": code or err.code, "message": str(err), "at": at, "ts": ts}
    return {"code": "S0203", "message": f"规则包无法编译：{type(err).__name__}: {err}"[:1000], "at": at, "ts": ts}


class Registry:
    ATTEMPTS = 3  # loads of a file that keeps changing under us before the attempt counts as failed

    def __init__(self, paths, keys=None, on_attempt=None):
        """paths: the bundle files; keys: None (no signature check) or the trusted public keys, as
        `policyc.runtime.load(keys=...)` takes them; on_attempt(path, ok): called after every load attempt."""
        seen: list[str] = []
        for p in paths:
            p = os.path.abspath(os.fspath(p))
            if p not in seen:
                seen.append(p)
        self.sources = [Source(p) for p in seen]
        self.keys = keys
        self.on_attempt = on_attempt
        self.snapshot = Snapshot()
        self._lock = asyncio.Lock()
        self.refreshes = 0

    # ── what requests read ─────────────────────────────────────────────────────────────────────────────────
    def select(self, selector: Selector | None, path: str = "bundle") -> Loaded:
        return self.snapshot.select(selector, path)

    @property
    def ready(self) -> bool:
        return self.snapshot.default is not None

    def describe(self) -> dict:
        snap = self.snapshot
        items = []
        for src in self.sources:
            item = {"path": src.path, "key": None, "id": None, "version": None, "sha256": None, "signer": None,
                    "loaded_at": None}
            if src.loaded is not None:
                item.update(src.loaded.info())
                item["default"] = snap.default is src.loaded
            else:
                item["default"] = False
            item["checked_at"] = src.checked_at
            item["last_error"] = None if src.error is None else {k: v for k, v in src.error.items() if k != "ts"}
            item["reloads"] = {"ok": src.reloads_ok, "failed": src.reloads_failed}
            items.append(item)
        return {"default": snap.default.key if snap.default else None, "loaded": sorted(snap.bundles),
                "bundles": items}

    # ── checking and loading ─────────────────────────────────────────────────────────────────────────────
    async def refresh(self, force: bool = False) -> list[dict]:
        """Check every source (in a worker thread each); swap in a new snapshot if anything changed. Returns,
        per source, {"path", "result": unchanged|reloaded|failed, "key", "error"}."""
        async with self._lock:
            self.refreshes += 1
            results = []
            for src in self.sources:
                outcome = await anyio.to_thread.run_sync(self._examine, src.path, src.stamp, src.loaded,
                                                         src.failed_digest, force)
                results.append(self._apply(src, outcome))
            self.snapshot = Snapshot.of([s.loaded for s in self.sources if s.loaded is not None])
            return results

    def _examine(self, path: str, stamp, loaded: Loaded | None, failed_digest: str | None, force: bool) -> _Outcome:
        """In a worker thread: what the file holds now, loaded and compiled if it is new."""
        for _ in range(self.ATTEMPTS):
            before, digest = None, None
            try:
                before = _stamp(path)
                if before == stamp and not force:
                    return _Outcome("unchanged", before)
                raw = _read(path)
                if raw is None:
                    raise BundleError(f"规则包文件 {path} 不存在")
                sig = _read(path + SIG_SUFFIX) if self.keys is not None else None
                digest = hashlib.sha256(hashlib.sha256(raw).digest()
                                        + hashlib.sha256(sig if sig is not None else b"").digest()).hexdigest()
                if loaded is not None and digest == loaded.digest:
                    return _Outcome("same", before, digest=digest)
                if digest == failed_digest and not force:
                    return _Outcome("known-bad", before, digest=digest)
                new = self._load(path, sig, digest)
            except OSError as err:
                return _Outcome("failed", before, error=_error(BundleError(f"无法读取规则包 {path}：{os_reason(err)}")))
            except Exception as err:  # noqa: BLE001 — any fault of the file is reported on the source
                if not isinstance(err, RuntimeFault):
                    log.exception("规则包 %s 编译失败", path)
                if _stamp(path) != before:
                    continue
                return _Outcome("failed", before, error=_error(err), digest=digest)
            if _stamp(path) == before:  # nothing changed while it loaded: what was loaded is what is there
                return _Outcome("loaded", before, loaded=new, digest=digest)
        return _Outcome("failed", None, error=_error(BundleError(f"规则包 {path} 在加载期间不断被改写，稍后再试")))

    def _load(self, path: str, sig: bytes | None, digest: str) -> Loaded:
        accepts = _load_parameters()
        if self.keys is None:
            evaluator = runtime.load(path)
        elif "keys" in accepts:
            # the signature bytes hashed into `digest` are the ones verified (the bundle path plus ".sig")
            extra = {"signature": sig} if sig is not None and "signature" in accepts else {}
            evaluator = runtime.load(path, keys=self.keys, sha256=None, **extra)
        else:
            raise BundleError("已配置可信公钥，但这一版本的 policyc.runtime 不能校验签名：拒绝加载")
        info = evaluator.bundle_info
        ts, at = _now()
        return Loaded(evaluator, info["id"], info["version"], info["sha256"], getattr(evaluator, "signer", None),
                      path, at, ts, digest)

    def _apply(self, src: Source, outcome: _Outcome) -> dict:
        """On the event loop: record the outcome on its source."""
        src.checked_at = _now()[1]
        src.stamp = outcome.stamp
        result = {"path": src.path, "result": "unchanged", "key": src.loaded.key if src.loaded else None,
                  "error": None}
        if outcome.kind == "same":
            if src.error is not None:
                log.info("规则包 %s 已恢复为正在使用的版本 %s", src.path, src.loaded.key)
            src.error, src.failed_digest = None, None
        elif outcome.kind == "loaded":
            new = outcome.loaded
            clash = next((s for s in self.sources if s is not src and s.loaded is not None
                          and s.loaded.key == new.key and s.loaded.sha256 != new.sha256), None)
            if clash is not None:
                outcome = replace(outcome, kind="failed", error=_error(BundleError(
                    f"规则包 {src.path} 是 {new.key}，但 {clash.path} 已加载内容不同的同一版本：拒绝加载"), "S0204"))
            else:
                previous = src.loaded
                src.loaded, src.error, src.failed_digest = new, None, None
                src.reloads_ok += 1
                self._notify(src.path, True)
                log.info("已加载规则包 %s：%s（sha256 %s，签名者 %s）%s", src.path, new.key, new.sha256,
                         new.signer or "无", f"，替换 {previous.key}" if previous else "")
                result.update(result="reloaded", key=new.key)
        if outcome.kind == "failed":
            src.error, src.failed_digest = outcome.error, outcome.digest
            src.reloads_failed += 1
            self._notify(src.path, False)
            log.error("规则包 %s 未能加载[%s]：%s；%s", src.path, outcome.error["code"], outcome.error["message"],
                      f"继续使用 {src.loaded.key}" if src.loaded else "该来源没有可用版本")
            result["result"] = "failed"
        if src.error is not None:
            result["error"] = {k: v for k, v in src.error.items() if k != "ts"}
        return result

    def _notify(self, path: str, ok: bool) -> None:
        if self.on_attempt is not None:
            self.on_attempt(path, ok)

    async def poll(self, interval: float) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await anyio.sleep(interval)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 — the poller must outlive any one bad check
                log.exception("检查规则包时出错")


def load_keys(paths) -> list | None:
    """The trusted public keys of --verify-key, read once at start (a bad key file stops the start)."""
    if not paths:
        return None
    from policyc.runtime.signing import load_public_key
    return [load_public_key(Path(p)) for p in paths]
