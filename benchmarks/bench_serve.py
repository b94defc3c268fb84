"""Decision service under load: `policyc serve` as a real subprocess, driven by concurrent clients in other
processes, while its bundle file is hot-swapped every few seconds, alternately GOOD and BAD.

    .venv/bin/python benchmarks/bench_serve.py                  # workers 1,2 × configs plain,log; 60 s each (~5 min)
    .venv/bin/python benchmarks/bench_serve.py --duration 10 --workers-list 1 --configs plain     # a quick look
    .venv/bin/python benchmarks/bench_serve.py --json-out /tmp/bench_serve.json                    # keep raw figures

Bounded and loopback only: every server listens on a free 127.0.0.1 port, every HTTP call has a timeout, every
subprocess (server process group, client processes) is ended in a `finally`, the temporary directory is removed.

For each worker count (`--workers-list`, default 1,2) × config (`--configs`, default plain,log; `log` adds
`--decision-log sqlite:///…` in the temporary directory):

1. A signed copy of the bundle (key made with `policyc.emit.signing.generate_key`, signed with `sign_bundle`) is
   served by `python -m policyc serve --verify-key KEY.pub --workers N --reload-interval 1` (the service's poll
   period; `--server-reload-interval`).
2. `--client-procs` client processes (default 1; this script re-run with `--client-worker`) run `--clients`
   closed-loop connections (default 8) in total for `--duration` seconds (default 60): keep-alive
   `POST /v1/decisions`, each body one of `--households` complete synthetic households from
   benchmarks/bench_runtime.py (imported, not copied); connections open `--connect-stagger` s apart (default 0.1).
   The client is a small asyncio HTTP/1.1 client (`--client raw`, default) or httpx (`--client httpx`): measured
   here, httpx spends 3–4 ms of client CPU per request (a ~23 KB answer) against ~0.25 ms for the raw client, so
   on two shared cores httpx, not the server, was the bottleneck (see benchmarks/README.md). Every request
   counts: a non-200, a connection error, a timeout (`--timeout`, 10 s) or a decision made by a bundle that
   should have been refused (its sha256, read from the decision's `bundle` field) is a failure.
3. Meanwhile, every `--reload-every` seconds (default 3) the bundle file is swapped atomically (temporary file in
   the same directory + os.replace): GOOD = a new version (manifest version changed, sha256 recomputed, signed
   anew; bundle replaced, then its .sig), BAD = that content tampered (a 低保标准 changed, sha256 recomputed) with
   the old .sig left in place, which verification must refuse (R0203). After each swap the script polls
   `GET /v1/bundles` on *every worker* until each shows the new version (GOOD) or a new refusal while still
   serving what it served before (BAD); the reload latency is the time from the (last) os.replace until the last
   worker shows it. Checking every worker: with `--workers N` the workers share one listening socket and the
   kernel hands each connection to one of them, so the script opens keep-alive probe connections until it has
   one held by each worker process — which process holds a connection is read from /proc/net/tcp and
   /proc/PID/fd (Linux) — and polls each (every 20 ms while waiting). A connection the server closes is
   re-opened to the same worker.
4. Server CPU (all its processes, from /proc) and client CPU are measured over the load window. The CPU the
   workers spent on reloads is estimated from their load counters × the in-process CPU of one load (GOOD) or
   one refusal (BAD), measured at the start, and reported beside the per-decision figure.

Before and after all runs, a baseline: the same households evaluated in-process, single-threaded
(`policyc.runtime.load(...).evaluate_json`, after one warm-up pass), for `--baseline-seconds` (default 5) each;
the HTTP figures are reported against it.

Exit status 1 if any request failed, a BAD bundle was ever loaded or decided anything, a GOOD one was not seen
on every worker before the next swap (or a BAD one not seen refused), a worker did not end on the last GOOD
bundle, the server logged a traceback, or (with the log) the decision log does not hold exactly the decisions
answered. Linux only for more than one worker (/proc).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


# ══ client process (`--client-worker CONFIG`): only the standard library (and httpx with --client httpx) ═══════
def _sha_and_version(body: bytes) -> tuple[bytes, bytes]:
    """The deciding bundle's sha256 and version, from the decision's leading `bundle` field (within 400 bytes)."""
    i = body.find(b'"sha256":"', 0, 400)
    j = body.find(b'"version":"', 0, 400)
    sha = body[i + 10:i + 74] if i >= 0 else b"?"
    version = body[j + 11:body.find(b'"', j + 11)] if j >= 0 else b"?"
    return sha, version


class _ClientStats:
    def __init__(self, bad: set[bytes]):
        self.bad = bad
        self.ok = 0
        self.failures = 0
        self.kinds: dict[str, int] = {}  # failure kind → count
        self.samples: list[str] = []  # the first few failures, for diagnosis
        self.versions: dict[str, int] = {}
        self.offsets = array("d")  # request start, seconds after the common start
        self.latencies = array("d")  # seconds

    def fail(self, kind: str, detail: str) -> None:
        self.failures += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {detail[:300]}")

    def answer(self, status: int, body: bytes) -> None:
        if status != 200:
            self.fail(f"HTTP {status}", body[:300].decode("utf-8", "replace"))
            return
        if not (body.startswith(b"{") and body.endswith(b"}")):
            self.fail("malformed body", body[:300].decode("utf-8", "replace"))
            return
        sha, version = _sha_and_version(body)
        if sha in self.bad:
            self.fail("decided by a refused (BAD) bundle", body[:200].decode("utf-8", "replace"))
            return
        v = version.decode("utf-8", "replace")
        self.versions[v] = self.versions.get(v, 0) + 1
        self.ok += 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent
                break
            parts.append(await reader.readexactly(size + 2))
        return status, b"".join(p[:-2] for p in parts), close
    if length is None:
        raise ValueError("response without Content-Length or chunked body")
    return status, await reader.readexactly(length), close


async def _raw_connection(port: int, bodies: list[bytes], first: int, start: float, end: float, timeout: float,
                          stats: _ClientStats, delay: float) -> None:
    """One keep-alive connection sending requests back to back (closed loop) from `start` + `delay` until `end`."""
    await asyncio.sleep(delay)
    prefix = (f"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
              "Content-Length: ").encode()
    reader = writer = None
    i = first
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        body = bodies[i % len(bodies)]
        i += 1
        t0 = loop.time()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            writer.write(prefix + str(len(body)).encode() + b"\r\n\r\n" + body)
            status, payload, close = await asyncio.wait_for(_read_response(reader), timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, IndexError) as err:
            stats.fail(type(err).__name__, repr(err))
            stats.offsets.append(t0 - start)
            stats.latencies.append(loop.time() - t0)
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        stats.offsets.append(t0 - start)
        stats.latencies.append(loop.time() - t0)
        stats.answer(status, payload)
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _httpx_connection(client, bodies, first, start, end, timeout, stats, delay) -> None:
    import httpx
    await asyncio.sleep(delay)
    i = first
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        body = bodies[i % len(bodies)]
        i += 1
        t0 = loop.time()
        try:
            r = await client.post("/v1/decisions", content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as err:
            stats.fail(type(err).__name__, repr(err))
        else:
            stats.answer(r.status_code, r.content)
        stats.offsets.append(t0 - start)
        stats.latencies.append(loop.time() - t0)


async def _client_main(cfg: dict) -> dict:
    bodies = Path(cfg["bodies"]).read_bytes().splitlines()
    stats = _ClientStats({s.encode() for s in cfg["bad_sha256"]})
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, cfg["start_at"] - time.time()))
    start = loop.time()
    end = start + cfg["duration"]
    cpu0 = time.process_time()
    n, first = cfg["connections"], cfg["index"] * 7919
    delays = [(cfg["first_connection"] + k * cfg["procs"]) * cfg["stagger"] for k in range(n)]
    if cfg["kind"] == "httpx":
        import httpx
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cfg['port']}", timeout=cfg["timeout"],
                                     limits=limits) as client:
            await asyncio.gather(*(_httpx_connection(client, bodies, first + 997 * k, start, end, cfg["timeout"],
                                                     stats, delays[k]) for k in range(n)))
    else:
        await asyncio.gather(*(_raw_connection(cfg["port"], bodies, first + 997 * k, start, end, cfg["timeout"],
                                               stats, delays[k]) for k in range(n)))
    elapsed = loop.time() - start
    return {"ok": stats.ok, "failures": stats.failures, "kinds": stats.kinds, "samples": stats.samples,
            "versions": stats.versions, "elapsed": elapsed, "cpu": time.process_time() - cpu0,
            "offsets": stats.offsets.tolist(), "latencies": stats.latencies.tolist()}


def client_worker(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    result = asyncio.run(_client_main(cfg))
    Path(cfg["out"]).write_text(json.dumps(result))


# ══ the server: start, find its workers, probe each, stop ══════════════════════════════════════════════════════
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_seconds(pids) -> float:
    """user + system CPU of these (live) processes."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _server_socket_inodes(port: int) -> dict[int, int]:
    """inode → client port of every established server-side TCP socket on 127.0.0.1:`port`."""
    out = {}
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            f = line.split()
            local, remote, state, inode = f[1], f[2], f[3], int(f[9])
            if state == "01" and int(local.split(":")[1], 16) == port:
                out[inode] = int(remote.split(":")[1], 16)
    return out


def socket_owners(port: int, pids) -> dict[int, int]:
    """client port → pid of the server process that holds that connection."""
    inodes = _server_socket_inodes(port)
    owners = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inode = int(link[8:-1])
                if inode in inodes:
                    owners[inodes[inode]] = pid
    return owners


class Probe:
    """A keep-alive connection held by one known worker process, for GET /v1/bundles."""

    def __init__(self, server: "Server", pid: int, conn):
        self.server, self.pid, self.conn = server, pid, conn
        self.reconnects = 0

    def bundles(self) -> dict:
        for attempt in range(3):
            try:
                self.conn.request("GET", "/v1/bundles")
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET /v1/bundles answered {r.status}: {body[:200]!r}")
                return json.loads(body)["bundles"][0]
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.reconnects += 1
                self.conn = self.server.connection_to(self.pid)
        raise RuntimeError(f"worker {self.pid}: /v1/bundles unreachable")


class Server:
    def __init__(self, args, run_dir: Path, bundle: Path, pub: Path, workers: int, log_url: str | None):
        self.port = free_port()
        self.workers = workers
        self.log_path = run_dir / "server.log"
        cmd = [sys.executable, "-m", "policyc", "serve", "--bundle", str(bundle), "--port", str(self.port),
               "--workers", str(workers), "--verify-key", str(pub), "--reload-interval",
               str(args.server_reload_interval), "--log-level", "warning"]
        if log_url:
            cmd += ["--decision-log", log_url]
        env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "POLICYC_ADMIN_TOKEN")}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)  # its own process group: stopped as a whole
        self.pids: list[int] = []
        self.probes: list[Probe] = []

    def connection_to(self, pid: int | None, limit: int = 400):
        """A keep-alive connection held by worker `pid` (None: whichever); connections that land elsewhere are
        closed. Returns (conn, pid) for pid None, else conn."""
        for _ in range(limit):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")  # answered only once a worker accepted the connection
                conn.getresponse().read()
                local = conn.sock.getsockname()[1]
                owner = socket_owners(self.port, self.pids).get(local)
            except (OSError, http.client.HTTPException):
                conn.close()
                time.sleep(0.05)
                continue
            if pid is None and owner is not None:
                return conn, owner
            if owner == pid:
                return conn
            conn.close()
        raise RuntimeError(f"no connection to worker {pid} after {limit} tries")

    def start(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"policyc serve exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("policyc serve did not become ready")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        # one probe per worker process: keep opening connections until each worker holds one
        found: dict[int, object] = {}
        while len(found) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"found {len(found)} of {self.workers} workers")
            tree = process_tree(self.proc.pid)
            self.pids = tree
            conn, pid = self.connection_to(None, limit=50)
            if pid in found:
                conn.close()
            else:
                found[pid] = conn
        self.pids = sorted(found)
        self.probes = [Probe(self, pid, conn) for pid, conn in found.items()]
        for probe in self.probes:  # every worker has loaded the bundle
            while probe.bundles()["version"] is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {probe.pid} has no bundle loaded")
                time.sleep(0.1)

    def connections_per_worker(self) -> dict[int, int]:
        owners = socket_owners(self.port, self.pids)
        counts = {pid: 0 for pid in self.pids}
        for pid in owners.values():
            counts[pid] += 1
        return {pid: n - 1 for pid, n in counts.items()}  # minus the probe

    def stop(self) -> None:
        """SIGTERM to the server's process group (graceful: uvicorn waits up to 30 s), SIGKILL after 40 s; then
        any process still in that group (a worker that outlived its supervisor) is killed by its pid."""
        for probe in self.probes:
            probe.conn.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        for pid in _group_members(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


def _group_members(pgid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
                out.append(int(name))
    return out


# ══ the bundle versions: GOOD (re-signed new version) and BAD (tampered, old signature) ════════════════════════
class Variant:
    def __init__(self, kind: str, version: str, sha256: str, data: bytes, sig: bytes | None):
        self.kind, self.version, self.sha256, self.data, self.sig = kind, version, sha256, data, sig


def _tamper(bundle: dict) -> None:
    """Raise the province's latest 农村低保标准 by 1 yuan: what a forger would do."""
    timeline = bundle["parameters"]["dibao.standard.rural"]["timelines"]["140000"]
    timeline[-1]["value"] = timeline[-1]["value"] + 1


def make_variants(base: Path, key: Path, stage: Path, goods: int) -> tuple[Variant, list[Variant]]:
    """The signed initial copy and the swap sequence GOOD1, BAD1, GOOD2, BAD2, …"""
    import copy

    from policyc.emit.signing import sign_bundle
    from policyc.runtime import jsonio
    from policyc.runtime.bundle import content_hash

    def signed(name: str, data: bytes) -> bytes:
        path = stage / name
        path.write_bytes(data)
        out, _ = sign_bundle(key, path, stage / f"{name}.sig")
        return out.read_bytes()

    raw = base.read_bytes()
    bundle = jsonio.loads(raw)
    base_version = bundle["manifest"]["version"]
    initial = Variant("initial", base_version, content_hash(bundle), raw, signed("initial.json", raw))
    seq = []
    for k in range(1, goods + 1):
        bundle["manifest"]["version"] = f"{base_version}-bench{k}"
        bundle["manifest"]["sha256"] = content_hash(bundle)
        data = jsonio.dumps(bundle, indent=None).encode()
        seq.append(Variant("good", bundle["manifest"]["version"], bundle["manifest"]["sha256"], data,
                           signed(f"good{k}.json", data)))
        bad = copy.deepcopy(bundle)
        _tamper(bad)
        bad["manifest"]["sha256"] = content_hash(bad)
        seq.append(Variant("bad", bad["manifest"]["version"], bad["manifest"]["sha256"],
                           jsonio.dumps(bad, indent=None).encode(), None))
    return initial, seq


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def swap(path: Path, variant: Variant) -> float:
    """Deploy: the bundle, then (GOOD) its signature; a BAD one keeps the old signature. Returns the time of the
    last os.replace."""
    _replace(path, variant.data)
    if variant.sig is not None:
        _replace(Path(f"{path}.sig"), variant.sig)
    return time.perf_counter()


def reload_costs(stage: Path, seq: list[Variant], pub: Path, rounds: int = 3) -> dict:
    """In-process CPU of what a worker does per reload: load (verify + compile) a GOOD bundle, refuse a BAD one."""
    from policyc import runtime
    from policyc.runtime import BundleError
    good, bad = seq[0], seq[1]
    (stage / "bad.json").write_bytes(bad.data)
    (stage / "bad.json.sig").write_bytes(good.sig)
    costs = {}
    for name, path in (("good", stage / "good1.json"), ("bad", stage / "bad.json")):
        times = []
        for _ in range(rounds):
            t = time.process_time()
            try:
                runtime.load(path, keys=[pub])
                refused = None
            except BundleError as err:
                refused = err.code
            times.append(time.process_time() - t)
        if (name == "bad") != (refused is not None):
            raise RuntimeError(f"in-process check: the {name} bundle was {'refused' if refused else 'loaded'}")
        costs[f"{name}_ms"] = sorted(times)[len(times) // 2] * 1000
        if refused:
            costs["bad_code"] = refused
    return costs


# ══ baseline: in-process, single-threaded ═══════════════════════════════════════════════════════════════════════
def baseline(ev, households: list, bodies: list[bytes], seconds: float) -> dict:
    from policyc.runtime import jsonio
    for h in households:  # warm the per-(place, date) caches, as a running service would be
        ev.evaluate_json(h)
    out = {}
    for name, items, fn in (("evaluate_json", households, ev.evaluate_json),
                            ("parse+evaluate_json", bodies, lambda b: ev.evaluate_json(jsonio.loads(b)))):
        lat = array("d")
        cpu0, t_end, i = time.process_time(), time.perf_counter() + seconds, 0
        t_start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            if t0 >= t_end:
                break
            fn(items[i % len(items)])
            lat.append(time.perf_counter() - t0)
            i += 1
        elapsed = time.perf_counter() - t_start
        out[name] = {"n": i, "per_s": i / elapsed, "cpu_ms": (time.process_time() - cpu0) / i * 1000,
                     **{f"p{q}_ms": v for q, v in percentiles(lat, (50, 90, 99)).items()}}
    return out


def percentiles(values, qs) -> dict:
    s = sorted(values)
    if not s:
        return {q: None for q in qs}
    return {q: s[min(len(s) - 1, int(len(s) * q / 100))] * 1000 for q in qs}


# ══ one run: a server, its load, its swaps ══════════════════════════════════════════════════════════════════════
def run_one(args, tmp: Path, workers: int, config: str, initial: Variant, seq: list[Variant], pub: Path,
            bodies_path: Path, key_id: str, costs: dict) -> dict:
    run_dir = tmp / f"w{workers}-{config}"
    run_dir.mkdir()
    bundle = run_dir / "shanxi.bundle.json"
    bundle.write_bytes(initial.data)
    Path(f"{bundle}.sig").write_bytes(initial.sig)
    log_url = f"sqlite:///{run_dir / 'decisions.db'}" if config == "log" else None
    server = Server(args, run_dir, bundle, pub, workers, log_url)
    clients: list[subprocess.Popen] = []
    result: dict = {"workers": workers, "config": config}
    try:
        server.start()
        print(f"  server up on port {server.port}: workers {server.pids}", flush=True)
        start_at = time.time() + 3.0
        outs = []
        per_proc = [args.clients // args.client_procs + (1 if k < args.clients % args.client_procs else 0)
                    for k in range(args.client_procs)]
        for k, n in enumerate(per_proc):
            cfg = {"port": server.port, "bodies": str(bodies_path), "start_at": start_at, "duration": args.duration,
                   "connections": n, "index": k, "timeout": args.timeout, "kind": args.client,
                   "procs": args.client_procs, "first_connection": k, "stagger": args.connect_stagger,
                   "bad_sha256": [v.sha256 for v in seq if v.kind == "bad"], "out": str(run_dir / f"client{k}.json")}
            cfg_path = run_dir / f"client{k}.cfg.json"
            cfg_path.write_text(json.dumps(cfg))
            outs.append(Path(cfg["out"]))
            clients.append(subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--client-worker",
                                              str(cfg_path)], cwd=ROOT, start_new_session=True))
        # wait for the common start (keeping the probes' connections alive), then measure server CPU
        _keepalive_until(server, time.perf_counter() + max(0.0, start_at - time.time()))
        t_start = time.perf_counter()
        server_pids = process_tree(server.proc.pid)
        cpu0 = cpu_seconds(server_pids)
        end = t_start + args.duration
        reloads = []
        current = initial
        swaps = [v for v in seq][:max(0, int((args.duration - 0.5) // args.reload_every))]
        conn_split = None
        for k, variant in enumerate(swaps):
            due = t_start + (k + 1) * args.reload_every
            if conn_split is None:
                time.sleep(max(0.0, min(due, t_start + 1.5) - time.perf_counter()))
                conn_split = server.connections_per_worker()
            _keepalive_until(server, due)
            before = {p.pid: p.bundles() for p in server.probes}
            t_swap = swap(bundle, variant)
            next_due = t_start + (k + 2) * args.reload_every
            deadline = next_due - 0.05 if k + 1 < len(swaps) else max(next_due, t_swap + 10.0)
            obs = _observe(server, variant, before, t_swap, deadline, key_id)
            obs.update(kind=variant.kind, version=variant.version, at_s=round(t_swap - t_start, 2))
            reloads.append(obs)
            if variant.kind == "good":
                current = variant
            print(f"  t={obs['at_s']:5.1f}s {variant.kind:4} {variant.version}: "
                  + (f"seen on all workers after {obs['latency_s'] * 1000:.0f} ms" if obs["latency_s"] is not None
                     else "NOT seen on every worker: " + json.dumps(obs["stuck"], ensure_ascii=False)[:400])
                  + (f" (errors seen: {obs['codes']})" if obs["codes"] else ""), flush=True)
        time.sleep(max(0.0, end - time.perf_counter()))
        cpu1 = cpu_seconds(server_pids)
        result["loadavg_end"] = os.getloadavg()
        t_load = time.perf_counter() - t_start
        for c in clients:
            c.wait(timeout=args.duration + 60)
        if any(c.returncode for c in clients):
            raise RuntimeError(f"a client process failed: {[c.returncode for c in clients]}")
        parts = [json.loads(p.read_text()) for p in outs]
        final = {p.pid: p.bundles() for p in server.probes}
        result.update(_summarise(parts, reloads, cpu1 - cpu0, t_load, conn_split, server, final, current, costs))
        if log_url:
            import sqlite3
            db = sqlite3.connect(f"file:{run_dir / 'decisions.db'}?mode=ro", uri=True, timeout=30)
            try:
                result["logged"] = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
            finally:
                db.close()
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait(timeout=10)
        server.stop()
    text = server.log_path.read_text(errors="replace")
    result["server_log"] = {"tracebacks": text.count("Traceback"), "refusal_lines": text.count("未能加载"),
                            "tail": text[-1500:] if "Traceback" in text else ""}
    return result


def _keepalive_until(server: Server, due: float) -> None:
    """Sleep until `due`, touching each probe connection every second so the server does not close it idle."""
    while True:
        left = due - time.perf_counter()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))
        if due - time.perf_counter() > 0.05:
            for p in server.probes:
                p.bundles()


def _observe(server: Server, variant: Variant, before: dict, t_swap: float, deadline: float, key_id: str) -> dict:
    """Poll every worker until each shows the swap's outcome: GOOD loaded, BAD refused (a new failed attempt,
    still serving what it served before)."""
    seen: dict[int, float] = {}
    codes: set[str] = set()
    new_failures = 0  # failed load attempts since the swap (for a GOOD one: the bundle seen before its .sig)
    state: dict[int, dict] = {}
    bad_served = False
    while True:
        for p in server.probes:
            if p.pid in seen:
                continue
            b = p.bundles()
            state[p.pid] = b
            now = time.perf_counter()
            failed = b["reloads"]["failed"] - before[p.pid]["reloads"]["failed"]
            if failed > 0 and b["last_error"]:
                codes.add(b["last_error"]["code"])
            new_failures = max(new_failures, failed)
            if b["sha256"] == variant.sha256 and variant.kind == "bad":
                bad_served = True
            if variant.kind == "good":
                ok = b["version"] == variant.version and b["sha256"] == variant.sha256 and b["signer"] == key_id
            else:
                old = before[p.pid]
                ok = (b["sha256"] == old["sha256"] and b["reloads"]["failed"] > old["reloads"]["failed"]
                      and b["last_error"] is not None)
            if ok:
                seen[p.pid] = now - t_swap
        if len(seen) == len(server.probes) or time.perf_counter() > deadline:
            break
        time.sleep(0.02)
    complete = len(seen) == len(server.probes)
    return {"latency_s": max(seen.values()) if complete else None,
            "per_worker_s": sorted(round(v, 3) for v in seen.values()),
            "codes": sorted(codes), "new_failures": new_failures, "bad_served": bad_served,
            "stuck": {} if complete else {pid: {"version": s["version"], "last_error": s["last_error"]}
                                          for pid, s in state.items() if pid not in seen}}


def _summarise(parts, reloads, server_cpu, t_load, conn_split, server, final, current, costs) -> dict:
    lat = array("d")
    offsets = array("d")
    for p in parts:
        lat.extend(p["latencies"])
        offsets.extend(p["offsets"])
    ok = sum(p["ok"] for p in parts)
    failures = sum(p["failures"] for p in parts)
    kinds, versions = {}, {}
    for p in parts:
        for k, v in p["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
        for k, v in p["versions"].items():
            versions[k] = versions.get(k, 0) + v
    elapsed = max(p["elapsed"] for p in parts)
    n = ok + failures
    # latency of requests started while a GOOD bundle was being loaded (swap → seen on all workers)
    windows = [(r["at_s"], r["at_s"] + r["latency_s"]) for r in reloads if r["kind"] == "good" and r["latency_s"]]
    during = array("d", (l for o, l in zip(offsets, lat) if any(a <= o <= b for a, b in windows)))
    good = [r for r in reloads if r["kind"] == "good"]
    bad = [r for r in reloads if r["kind"] == "bad"]
    # every worker: its loads after the first, and its refusals (from its own counters)
    reload_cpu = sum((b["reloads"]["ok"] - 1) * costs["good_ms"] + b["reloads"]["failed"] * costs["bad_ms"]
                     for b in final.values()) / 1000
    return {
        "requests": n, "ok": ok, "failures": failures, "failure_kinds": kinds,
        "failure_samples": [s for p in parts for s in p["samples"]][:10],
        "req_per_s": n / elapsed, "elapsed_s": elapsed,
        **{f"p{q}_ms": v for q, v in percentiles(lat, (50, 90, 99)).items()},
        "max_ms": max(lat) * 1000 if lat else None,
        "p99_during_good_reload_ms": percentiles(during, (99,))[99], "requests_during_good_reload": len(during),
        "server_cpu_s": server_cpu, "server_cpu_ms_per_request": server_cpu / max(1, n) * 1000,
        "server_cpu_share": server_cpu / t_load,
        "reload_cpu_s_estimate": reload_cpu,
        "server_cpu_ms_per_request_excl_reloads": (server_cpu - reload_cpu) / max(1, n) * 1000,
        "client_cpu_ms_per_request": sum(p["cpu"] for p in parts) / max(1, n) * 1000,
        "connections_per_worker": conn_split,
        "probe_reconnects": sum(p.reconnects for p in server.probes),
        "versions_served": versions,
        "reloads": reloads,
        "good_seen": sum(1 for r in good if r["latency_s"] is not None), "good_total": len(good),
        "bad_refused": sum(1 for r in bad if r["latency_s"] is not None and not r["bad_served"]),
        "bad_total": len(bad), "bad_served": sum(1 for r in bad if r["bad_served"]),
        "good_latency_ms": sorted(round(r["latency_s"] * 1000) for r in good if r["latency_s"] is not None),
        "bad_latency_ms": sorted(round(r["latency_s"] * 1000) for r in bad if r["latency_s"] is not None),
        "transient_refusals_on_good": sum(1 for r in good if r["new_failures"]),
        "final": {pid: {"version": b["version"], "last_error": b["last_error"] and b["last_error"]["code"],
                        "reloads": b["reloads"]} for pid, b in final.items()},
        "final_is_last_good": all(b["sha256"] == current.sha256 for b in final.values()),
    }


# ══ report ══════════════════════════════════════════════════════════════════════════════════════════════════════
def _ms(values) -> str:
    if not values:
        return "–"
    s = sorted(values)
    return f"{s[len(s) // 2]:,} / {s[-1]:,}"


def markdown(results: list[dict], base: list[dict]) -> str:
    rate = sum(b["evaluate_json"]["per_s"] for b in base) / len(base)
    cpu = sum(b["evaluate_json"]["cpu_ms"] for b in base) / len(base)
    lines = ["| workers (connections each) | config | requests | failures | req/s | p50 / p90 / p99 ms "
             "| GOOD seen / BAD refused | reload latency GOOD, median / max ms | BAD, median / max ms "
             "| server CPU ms/decision, all / excl. reloads (× in-process) | in-process ÷ HTTP req/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(
            f"| {r['workers']} ({'+'.join(str(c) for c in (r['connections_per_worker'] or {}).values())}) "
            f"| {r['config']} | {r['requests']:,} | {r['failures']} | {r['req_per_s']:.0f} "
            f"| {r['p50_ms']:.1f} / {r['p90_ms']:.1f} / {r['p99_ms']:.1f} "
            f"| {r['good_seen']}/{r['good_total']} · {r['bad_refused']}/{r['bad_total']} "
            f"| {_ms(r['good_latency_ms'])} | {_ms(r['bad_latency_ms'])} "
            f"| {r['server_cpu_ms_per_request']:.2f} / {r['server_cpu_ms_per_request_excl_reloads']:.2f} "
            f"({r['server_cpu_ms_per_request_excl_reloads'] / cpu:.1f}×) "
            f"| {rate / r['req_per_s']:.1f}× |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "generated" / "shanxi.bundle.json"))
    ap.add_argument("--workers-list", default="1,2", help="worker counts, comma-separated (default 1,2)")
    ap.add_argument("--configs", default="plain,log", help="plain and/or log (SQLite decision log); default plain,log")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load per run (default 60)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes sharing them (default 1)")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw", help="HTTP client (default raw asyncio)")
    ap.add_argument("--connect-stagger", type=float, default=0.1,
                    help="seconds between opening successive client connections (default 0.1; 0: all at once)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds (default 10)")
    ap.add_argument("--reload-every", type=float, default=3.0, help="seconds between bundle swaps (default 3)")
    ap.add_argument("--server-reload-interval", type=float, default=1.0,
                    help="the server's --reload-interval (default 1)")
    ap.add_argument("--households", type=int, default=2000, help="distinct synthetic households (default 2000)")
    ap.add_argument("--baseline-seconds", type=float, default=5.0, help="in-process baseline, before and after")
    ap.add_argument("--json-out", help="write every figure (and each reload) as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs, decision logs)")
    ap.add_argument("--client-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client_worker:
        client_worker(args.client_worker)
        return 0

    sys.path.insert(0, str(ROOT))
    from bench_runtime import synthetic_households
    from policyc import runtime
    from policyc.emit.signing import generate_key
    from policyc.runtime import jsonio

    workers_list = [int(w) for w in args.workers_list.split(",")]
    configs = [c.strip() for c in args.configs.split(",")]
    if not set(configs) <= {"plain", "log"} or args.client_procs < 1 or args.clients < args.client_procs:
        ap.error("--configs takes plain and/or log; --clients ≥ --client-procs ≥ 1")
    if max(workers_list) > 1 and not os.path.exists("/proc/net/tcp"):
        ap.error("checking every worker needs Linux /proc (see the docstring)")

    def on_term(signum, frame):  # so that `finally` stops the servers
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve."))
    results, base = [], []
    try:
        stage = tmp / "stage"
        stage.mkdir()
        key = tmp / "keys" / "bench"
        key.parent.mkdir()
        kid = generate_key(key)
        pub = Path(f"{key}.pub")
        t = time.perf_counter()
        goods = int(args.duration // args.reload_every) // 2 + 1
        initial, seq = make_variants(Path(args.bundle), key, stage, goods)
        print(f"prepared the signed bundle and {len(seq)} swaps ({goods} GOOD, {goods} BAD) in "
              f"{time.perf_counter() - t:.1f} s; key {kid}", flush=True)

        costs = reload_costs(stage, seq, pub)
        print(f"in-process CPU per reload: GOOD load {costs['good_ms']:.0f} ms, BAD refusal {costs['bad_ms']:.0f} ms "
              f"({costs['bad_code']})", flush=True)
        ev = runtime.load(stage / "initial.json", keys=[pub])
        households = synthetic_households(args.households, [j["code"] for j in ev.bundle["jurisdictions"]],
                                          module=ev.module)
        bodies = [jsonio.dumps(h, indent=None).encode() for h in households]
        bodies_path = tmp / "bodies.ndjson"
        bodies_path.write_bytes(b"\n".join(bodies) + b"\n")
        base.append(baseline(ev, households, bodies, args.baseline_seconds))
        print("baseline (in-process, one thread):", json.dumps(base[-1]), flush=True)

        for workers in workers_list:
            for config in configs:
                print(f"workers={workers} config={config}: {args.duration:g} s, {args.clients} clients "
                      f"({args.client}, {args.client_procs} process(es)), swap every {args.reload_every:g} s",
                      flush=True)
                r = run_one(args, tmp, workers, config, initial, seq, pub, bodies_path, kid, costs)
                results.append(r)
                print("  " + json.dumps({k: v for k, v in r.items() if k not in ("reloads", "final")},
                                        ensure_ascii=False, default=str), flush=True)
        base.append(baseline(ev, households, bodies, args.baseline_seconds))
        print("baseline (in-process, one thread), after:", json.dumps(base[-1]), flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{_dt.date.today().isoformat()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average (1, 5, 15 min) before: {tuple(round(x, 2) for x in load_before)}, "
          f"after: {tuple(round(x, 2) for x in os.getloadavg())}")
    print("baseline evaluate_json: " + ", ".join(f"{b['evaluate_json']['per_s']:.0f}/s p50 "
                                               f"{b['evaluate_json']['p50_ms']:.2f} ms" for b in base))
    print(markdown(results, base))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"baseline": base, "reload_costs": costs, "runs": results,
                                                   "args": vars(args), "loadavg_before": load_before},
                                                  ensure_ascii=False, indent=1, default=str))
    problems = []
    for r in results:
        tag = f"workers={r['workers']} {r['config']}"
        if r["failures"]:
            problems.append(f"{tag}: {r['failures']} failed requests {r['failure_kinds']}: {r['failure_samples'][:3]}")
        if r["bad_served"]:
            problems.append(f"{tag}: a BAD bundle was loaded {r['bad_served']} time(s)")
        if r["good_seen"] < r["good_total"]:
            problems.append(f"{tag}: {r['good_total'] - r['good_seen']} GOOD bundle(s) not seen on every worker")
        if r["bad_refused"] < r["bad_total"] and not r["bad_served"]:
            problems.append(f"{tag}: {r['bad_total'] - r['bad_refused']} BAD swap(s) not seen refused in time")
        if not r["final_is_last_good"]:
            problems.append(f"{tag}: at the end not every worker served the last GOOD bundle: {r['final']}")
        if r["server_log"]["tracebacks"]:
            problems.append(f"{tag}: {r['server_log']['tracebacks']} traceback(s) in the server log")
        if r.get("logged") is not None and r["logged"] != r["ok"]:
            problems.append(f"{tag}: {r['ok']} decisions answered but {r['logged']} in the decision log")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
