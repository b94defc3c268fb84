"""Nothing answered is lost: `policyc serve` with a decision log (SQLite, and PostgreSQL when
POLICYC_TEST_POSTGRES names a server — required under CI), killed with SIGKILL under load, has in its log every
decision_id it sent in a 200 response."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
LOAD_SECONDS = 2.0
CLIENTS = 6

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"policyc serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("policyc serve did not become ready")


def log_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    base = os.environ.get("POLICYC_TEST_POSTGRES")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CI must run the kill test on PostgreSQL: POLICYC_TEST_POSTGRES is not set")
        pytest.skip("the PostgreSQL kill test needs POLICYC_TEST_POSTGRES=postgresql://… (see .ci/postgres.sh)")
    return f"{base}{'&' if '?' in base else '?'}schema=kill_{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_under_load_loses_no_answered_decision(tmp_path, backend):
    bundle = tmp_path / "shanxi.bundle.json"
    shutil.copyfile(ROOT / "generated" / "shanxi.bundle.json", bundle)
    request = (ROOT / "examples" / "household.json").read_bytes()
    batch = b"[" + b",".join([request] * 3) + b"]"
    url = log_url(backend, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "serve", "--bundle", str(bundle), "--port", str(port),
                             "--decision-log", url, "--reload-interval", "0", "--log-level", "warning"],
                            cwd=ROOT, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    received: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if (i + n) % 4 == 0:
                        r = http.post("/v1/decisions:batch", content=batch,
                                      headers={"content-type": "application/json"})
                        ids = [d["decision_id"] for d in r.json()] if r.status_code == 200 else []
                    else:
                        r = http.post("/v1/decisions?programs=dibao,tekun" if i % 2 else "/v1/decisions",
                                      content=request, headers={"content-type": "application/json"})
                        ids = [r.headers["policyc-decision-id"]] if r.status_code == 200 else []
                except (httpx.HTTPError, ValueError):  # the server is gone (or went mid-answer)
                    if proc.poll() is None and not stop.is_set():
                        time.sleep(0.01)
                        continue
                    return
                with lock:
                    if r.status_code == 200:
                        received.extend(ids)
                    else:
                        errors.append(f"{r.status_code} {r.text[:200]}")

    try:
        wait_ready(base, proc)
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(LOAD_SECONDS)
        with lock:
            before_kill = len(received)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests in flight, entries queued for commit
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=15)
    finally:
        stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        server_log.close()

    assert proc.returncode == -signal.SIGKILL
    assert not errors, errors[:3]
    assert before_kill >= 10, (before_kill, (tmp_path / "server.log").read_text(errors="replace")[-2000:])

    from policyc.serve.decisionlog import open_log
    log = open_log(url)
    try:
        missing = [i for i in received if log.get_json(i) is None]
        stored = log.count()
    finally:
        log.close()
    assert missing == [], f"{len(missing)} of {len(received)} answered decisions are not in the log"
    assert stored >= len(set(received)) == len(received)
    print(f"\n{backend}: {len(received)} decisions answered ({before_kill} before the kill), all {len(received)} "
          f"in the log ({stored} stored)")
