"""`policyc serve`: every endpoint, every error status, bundle selection, hot reload with keep-last-good, the
admin token, limits, the OpenAPI document and the decision log — in process, with Starlette's TestClient."""
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
from starlette.testclient import TestClient  # noqa: E402

from policyc.runtime import jsonio, load  # noqa: E402
from policyc.runtime.bundle import content_hash  # noqa: E402
from policyc.serve.app import create_app  # noqa: E402
from policyc.serve.config import ConfigError, ServeConfig  # noqa: E402
from policyc.serve.registry import version_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "generated" / "shanxi.bundle.json"
TOKEN = "s3cret-admin-token-0123456789"


# ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def shipped():
    """The committed bundle, parsed (Decimals exact)."""
    return jsonio.loads(SHIPPED.read_bytes())


@pytest.fixture(scope="module")
def ev():
    return load(SHIPPED)


@pytest.fixture(scope="module")
def household_text():
    return (ROOT / "examples" / "household.json").read_text(encoding="utf-8")


@pytest.fixture
def household(household_text):
    return jsonio.loads(household_text)


def variant(data: dict, version: str | None = None, **manifest) -> dict:
    """A different valid bundle: the manifest changed and its sha256 recomputed."""
    out = dict(data, manifest=dict(data["manifest"], **manifest))
    if version is not None:
        out["manifest"]["version"] = version
    out["manifest"]["sha256"] = content_hash(out)
    return out


def tampered(data: dict) -> dict:
    """Content changed, sha256 not: a bundle the runtime refuses."""
    return dict(data, manifest=dict(data["manifest"], title=data["manifest"]["title"] + "（改）"))


def write(path: Path, data) -> Path:
    """Replace a file atomically, as a deployment should (new inode)."""
    raw = data if isinstance(data, bytes) else jsonio.dumps(data, indent=None).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)
    return path


class Client(TestClient):
    """`json=` bodies written with exact Decimals (policyc.runtime.jsonio), as a service client should."""

    def request(self, method, url, **kwargs):
        if kwargs.get("json") is not None:
            kwargs["content"] = jsonio.dumps(kwargs.pop("json"), indent=None).encode("utf-8")
            kwargs["headers"] = {"content-type": "application/json", **dict(kwargs.get("headers") or {})}
        return super().request(method, url, **kwargs)


def line(obj) -> str:
    return jsonio.dumps(obj, indent=None)


@contextlib.contextmanager
def serve(*bundles, **options):
    options.setdefault("reload_interval", 0)
    app = create_app(ServeConfig(bundles=[str(b) for b in bundles], **options))
    with Client(app, raise_server_exceptions=False) as client:
        client.service = app.state.service
        yield client


@pytest.fixture
def bundle_file(tmp_path, shipped):
    return write(tmp_path / "shanxi.bundle.json", shipped)


@pytest.fixture
def client(bundle_file):
    with serve(bundle_file) as c:
        yield c


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and isinstance(body["message"], str) and isinstance(body["problems"], list)
    assert all(set(p) == {"path", "message"} for p in body["problems"])
    assert "Traceback" not in response.text
    return body


def walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


# ── decisions ────────────────────────────────────────────────────────────────────────────────────────────────────
def test_decision_is_the_runtimes_exactly(client, ev, household, shipped):
    household["household"]["members"][0]["monthly_income"] = Decimal("1200.37")
    household["household"]["members"][0]["earned_income"] = Decimal("1200.37")
    body = jsonio.dumps(household, indent=None)
    r = client.post("/v1/decisions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.text == ev.evaluate_json(jsonio.loads(body))  # byte for byte what the runtime answers
    decision = jsonio.loads(r.text)
    m = shipped["manifest"]
    assert decision["bundle"] == {"id": m["id"], "version": m["version"], "sha256": m["sha256"]}
    assert r.headers["policyc-bundle"] == f"{m['id']}@{m['version']}"
    assert "decision_id" not in decision  # no decision log configured
    numbers = [v for v in walk(decision) if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
    assert not any(isinstance(v, float) for v in numbers)
    # fractions stay exact: every fractional value of the runtime's decision (the trace lists only the values
    # read, so which ones there are depends on the policy) arrives as the same Decimal
    fractions = [v for v in walk(ev.evaluate(jsonio.loads(body))) if isinstance(v, Decimal) and v != v.to_integral_value()]
    assert [v for v in numbers if isinstance(v, Decimal) and v != v.to_integral_value()] == fractions
    assert "1200.37元" in r.text


def test_programs_filter_and_query_overrides(client, ev, household):
    r = client.post("/v1/decisions?programs=dibao", json=household)
    assert r.status_code == 200 and list(r.json()["programs"]) == ["dibao"]
    assert r.text == ev.evaluate_json(household, programs=["dibao"])
    r = client.post("/v1/decisions", params=[("programs", "dibao"), ("programs", "temporary")], json=household)
    assert sorted(r.json()["programs"]) == ["dibao", "temporary"]
    body = problem(client.post("/v1/decisions?programs=dibao,nope", json=household), 422, "R0101")
    assert body["problems"][0]["path"] == "programs" and "nope" in body["problems"][0]["message"]
    other = next(code for code, j in ((j["code"], j) for j in ev.bundle["jurisdictions"]) if j["level"] == "county"
                 and code != ev.resolve_locality(household["locality"])["code"])
    r = client.post(f"/v1/decisions?locality={other}&date=2025-01-01", json=household)
    assert r.status_code == 200 and r.json()["locality"]["code"] == other and r.json()["date"] == "2025-01-01"
    assert problem(client.post("/v1/decisions?date=2025-13-01", json=household), 422, "S0109")["problems"][0]["path"] == "?date"


def test_invalid_requests_are_422_with_json_paths(client, household):
    household["household"]["members"][1]["monthly_income"] = -5
    body = problem(client.post("/v1/decisions", json=household), 422, "R0101")
    assert "$.household.members[1].monthly_income" in [p["path"] for p in body["problems"]]
    body = problem(client.post("/v1/decisions", json={"date": "2024-07-01", "locality": "不存在的地方", "household": {}}),
                   422, "R0102")
    assert body["problems"][0]["path"] == "$.locality"
    problem(client.post("/v1/decisions", json=[1, 2]), 422, "R0101")
    assert client.service.metrics.refusals.labels("R0101")._value.get() >= 2


@pytest.mark.parametrize("raw, code", [
    (b'{"locality": ', "S0101"),
    (b"{'single': 'quotes'}", "S0101"),
    (b'{"x": NaN}', "S0101"),
    (b"\xef\xbb\xbf{}", "S0101"),  # a BOM
    (b'{"locality": "\xe5\xa4"}', "S0102"),  # truncated UTF-8
    (b"\xff\xfe{\x00}\x00", "S0102"),  # UTF-16
    (b"[" * 200_000, "S0103"),
])
def test_malformed_bodies_are_400(client, raw, code):
    body = problem(client.post("/v1/decisions", content=raw), 400, code)
    assert body["problems"][0]["path"] == "$"


def test_404_405_and_500_are_json_without_traceback(client, household, caplog):
    problem(client.get("/v2/nothing"), 404, "S0110")
    problem(client.get("/v1/schemas/household"), 404, "S0110")
    r = client.get("/v1/decisions")
    assert problem(r, 405, "S0111") and "POST" in r.headers["allow"]
    problem(client.delete("/v1/bundles"), 405, "S0111")
    ev = client.service.registry.snapshot.default.evaluator

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")
    ev.evaluate_json = boom
    with caplog.at_level("ERROR", logger="policyc.serve"):
        r = client.post("/v1/decisions", json=household)
    problem(r, 500, "S0501")
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert "secret internal detail" in caplog.text  # logged on the server, with its traceback
    r = client.post("/v1/decisions:batch", json=[household])  # a batch item fails alone, just as quietly
    assert r.status_code == 200 and r.json()[0]["error"] == "S0501" and "secret" not in r.text
    del ev.evaluate_json


# ── limits ───────────────────────────────────────────────────────────────────────────────────────────────────────
def test_body_limit_is_enforced_while_reading(bundle_file, household_text, monkeypatch):
    from policyc.serve import app as app_module
    parsed = []
    real = app_module.parse_json
    monkeypatch.setattr(app_module, "parse_json", lambda raw, *a: parsed.append(len(raw)) or real(raw, *a))
    size = len(household_text.encode("utf-8"))
    with serve(bundle_file, max_body=size - 1) as c:
        body = problem(c.post("/v1/decisions", content=household_text), 413, "S0104")  # by Content-Length
        assert str(size) in body["problems"][0]["message"]

        def chunks():  # no Content-Length: counted as the chunks arrive
            data = household_text.encode("utf-8")
            for i in range(0, len(data), 100):
                yield data[i:i + 100]
        problem(c.post("/v1/decisions", content=chunks()), 413, "S0104")
        problem(c.post("/v1/decisions:batch", content=chunks(), headers={"content-type": "application/x-ndjson"}),
                413, "S0104")
        assert parsed == []  # refused before any parsing
        problem(c.post("/v1/decisions", content=household_text.encode() + b" ",
                       headers={"content-length": "x"}), 400, "S0112")
    with serve(bundle_file, max_body=size) as c:
        assert c.post("/v1/decisions", content=household_text).status_code == 200


def test_member_and_batch_limits(bundle_file, household):
    n = len(household["household"]["members"])
    with serve(bundle_file, max_members=n - 1, max_batch=2) as c:
        body = problem(c.post("/v1/decisions", json=household), 413, "S0105")
        assert body["problems"][0]["path"] == "$.household.members"
        r = c.post("/v1/decisions:batch", json=[household])
        assert r.status_code == 200 and r.json() == [dict(r.json()[0], index=0, status=413, error="S0105")]
        problem(c.post("/v1/decisions:batch", json=[household] * 3), 413, "S0106")
        ndjson = "\n".join([line(household)] * 3) + "\n"
        problem(c.post("/v1/decisions:batch", content=ndjson, headers={"content-type": "application/x-ndjson"}),
                413, "S0106")
    with serve(bundle_file, max_members=n) as c:
        assert c.post("/v1/decisions", json=household).status_code == 200


# ── batches ──────────────────────────────────────────────────────────────────────────────────────────────────────
def test_json_batch(client, ev, household):
    bad = dict(household, date="yesterday")
    r = client.post("/v1/decisions:batch?programs=dibao", json=[household, bad, "x", household])
    assert r.status_code == 200
    out = r.json()
    assert len(out) == 4
    assert jsonio.loads(r.text)[0] == jsonio.loads(ev.evaluate_json(household, programs=["dibao"]))
    assert out[3] == out[0]
    assert out[1]["index"] == 1 and out[1]["status"] == 422 and out[1]["error"] == "R0101"
    assert out[1]["problems"] == [{"path": "$.date", "message": out[1]["problems"][0]["message"]}]
    assert out[2]["index"] == 2 and out[2]["status"] == 422
    problem(client.post("/v1/decisions:batch", json={"not": "a list"}), 422, "S0107")
    problem(client.post("/v1/decisions:batch", content=b"[1,", headers={"content-type": "application/json"}),
            400, "S0101")
    problem(client.post("/v1/decisions:batch", content=b"<x/>", headers={"content-type": "application/xml"}),
            415, "S0108")
    assert client.post("/v1/decisions:batch", json=[]).json() == []


def test_ndjson_batch_streams_one_line_per_line_in_order(client, ev, household):
    one = line(household)
    other = line(dict(household, date="2025-03-01"))
    body = f"{one}\r\n{{broken\n\n{other}\n".encode("utf-8")
    with client.stream("POST", "/v1/decisions:batch", content=body,
                       headers={"content-type": "application/x-ndjson; charset=utf-8"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = list(r.iter_lines())
    assert len(lines) == 4
    assert lines[0] == ev.evaluate_json(household)
    assert json.loads(lines[1])["index"] == 1 and json.loads(lines[1])["error"] == "S0101"
    assert json.loads(lines[2])["index"] == 2 and json.loads(lines[2])["error"] == "S0101"  # a blank line too
    assert json.loads(lines[3])["date"] == "2025-03-01"
    many = (one + "\n") * 150  # more than one chunk
    r = client.post("/v1/decisions:batch", content=many, headers={"content-type": "application/x-ndjson"})
    assert r.text.count("\n") == 150 and len(set(r.text.splitlines())) == 1


# ── what the bundle holds ────────────────────────────────────────────────────────────────────────────────────────
def test_parameters_like_policyc_params(client, ev):
    r = client.get("/v1/parameters", params={"locality": "小店区", "date": "2024-07-01"})
    assert r.status_code == 200
    out = jsonio.loads(r.text)
    import datetime as dt
    juris = ev.resolve_locality("小店区")
    _, entries, _, _ = ev.params_at(juris["code"], dt.date(2024, 7, 1))
    expected = {pid: ev.describe(pid, entry) for pid, entry in entries.items()}
    assert out["locality"] == {"code": juris["code"], "name": juris["full_name"]} and out["date"] == "2024-07-01"
    assert out["parameters"] == jsonio.loads(jsonio.dumps(expected))  # values exact (Decimal == Decimal)
    assert out["bundle"] == ev.bundle_info
    body = problem(client.get("/v1/parameters", params={"locality": "城区", "date": "2024-07-01"}), 422, "R0102")
    assert body["problems"][0]["path"] == "?locality" and "阳泉" in body["problems"][0]["message"]
    body = problem(client.get("/v1/parameters"), 422, "S0109")
    assert [p["path"] for p in body["problems"]] == ["?locality", "?date"]
    problem(client.get("/v1/parameters", params={"locality": "小店区", "date": "1.7.2024"}), 422, "S0109")


def test_localities_and_schemas(client, shipped):
    r = client.get("/v1/localities")
    assert r.status_code == 200
    codes = [loc["code"] for loc in r.json()["localities"]]
    assert codes == [j["code"] for j in shipped["jurisdictions"]]
    assert client.get("/v1/schemas/request").json() == json.loads(jsonio.dumps(shipped["schemas"]["request"]))
    assert client.get("/v1/schemas/decision").json() == json.loads(jsonio.dumps(shipped["schemas"]["decision"]))


def test_openapi_embeds_the_generated_schemas(client, shipped, household):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert schemas["Request"] == json.loads(jsonio.dumps(shipped["schemas"]["request"]))
    assert schemas["Decision"] == json.loads(jsonio.dumps(shipped["schemas"]["decision"]))
    op = doc["paths"]["/v1/decisions"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Request"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Decision"}
    for path in ("/v1/decisions:batch", "/v1/decisions/{id}", "/v1/parameters", "/v1/localities", "/v1/bundles",
                 "/v1/bundles:reload", "/v1/schemas/request", "/v1/schemas/decision", "/healthz", "/readyz",
                 "/metrics"):
        assert path in doc["paths"]
    assert doc["x-policyc-bundle"]["sha256"] == shipped["manifest"]["sha256"]
    # what the service answers validates against the document's own schemas
    jsonschema = pytest.importorskip("jsonschema")
    decision = client.post("/v1/decisions", json=household).json()
    jsonschema.Draft202012Validator(schemas["Decision"]).validate(decision)
    jsonschema.Draft202012Validator(schemas["Request"]).validate(json.loads(jsonio.dumps(household)))
    jsonschema.Draft202012Validator(schemas["Problem"]).validate(client.post("/v1/decisions", content=b"{").json())


# ── health and metrics ───────────────────────────────────────────────────────────────────────────────────────────
def test_health_and_readiness(client, tmp_path):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["default"] == "shanxi@" + r.json()["default"].split("@")[1]
    bad = write(tmp_path / "bad.json", b"{not json")
    with serve(bad) as c:
        assert c.get("/healthz").status_code == 200
        problem(c.get("/readyz"), 503, "S0202")
        problem(c.post("/v1/decisions", json={}), 503, "S0202")
        assert c.get("/v1/bundles").json()["bundles"][0]["last_error"]["code"] == "R0201"


def test_metrics(client, household, shipped):
    client.post("/v1/decisions?programs=dibao", json=household)
    client.post("/v1/decisions", content=b"{")
    client.get("/v1/decisions/123")
    text = client.get("/metrics").text
    sha = shipped["manifest"]["sha256"]
    assert 'policyc_http_requests_total{method="POST",route="/v1/decisions",status="200"} 1.0' in text
    assert 'policyc_http_requests_total{method="POST",route="/v1/decisions",status="400"} 1.0' in text
    assert 'route="/v1/decisions/{id}",status="404"' in text  # the route, never the raw path
    assert 'policyc_http_request_duration_seconds_bucket{le="0.005",route="/v1/decisions"}' in text
    assert 'policyc_decisions_total{bundle="shanxi@0.1.0",program="dibao"} 1.0'.replace(
        "0.1.0", shipped["manifest"]["version"]) in text
    assert 'program="tekun"' not in text
    assert f'sha256="{sha}"' in text and "policyc_bundle_info{" in text
    assert 'policyc_bundle_reloads_total{path="' in text and 'result="ok"} 1.0' in text
    assert "policyc_bundle_reload_failing{" in text and "_created" not in text


# ── several bundles ──────────────────────────────────────────────────────────────────────────────────────────────
def test_several_versions_and_selection(tmp_path, shipped, household):
    old = write(tmp_path / "old.json", shipped)
    newer = variant(shipped, version="9.0.0")
    new = write(tmp_path / "new.json", newer)
    older_key, newer_key = f"shanxi@{shipped['manifest']['version']}", "shanxi@9.0.0"
    with serve(new, old) as c:
        listing = c.get("/v1/bundles").json()
        assert listing["default"] == newer_key and sorted(listing["loaded"]) == sorted([older_key, newer_key])
        assert {b["path"] for b in listing["bundles"]} == {str(old), str(new)}
        assert all(b["sha256"] and b["loaded_at"] and b["last_error"] is None for b in listing["bundles"])
        assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == "9.0.0"  # newest by default
        r = c.post(f"/v1/decisions?bundle={older_key}", json=household)
        assert r.json()["bundle"] == {k: shipped["manifest"][k] for k in ("id", "version", "sha256")}
        assert r.headers["policyc-bundle"] == older_key
        r = c.post("/v1/decisions", json=dict(household, bundle=older_key))  # the body's own field
        assert r.status_code == 200 and r.json()["bundle"]["version"] == shipped["manifest"]["version"]
        r = c.post("/v1/decisions", json=dict(household, bundle={"id": "shanxi", "version": "9.0.0",
                                                                  "sha256": newer["manifest"]["sha256"]}))
        assert r.json()["bundle"]["sha256"] == newer["manifest"]["sha256"]
        assert c.post("/v1/decisions?bundle=shanxi", json=household).json()["bundle"]["version"] == "9.0.0"
        body = problem(c.post("/v1/decisions?bundle=shanxi@1.2.3", json=household), 404, "S0201")
        assert newer_key in body["problems"][0]["message"]
        problem(c.post("/v1/decisions", json=dict(household, bundle={"id": "shanxi", "version": "9.0.0",
                                                                      "sha256": "0" * 64})), 404, "S0201")
        problem(c.post("/v1/decisions?bundle=shanxi@9.0.0", json=dict(household, bundle=older_key)), 422, "S0109")
        problem(c.post("/v1/decisions", json=dict(household, bundle=7)), 422, "S0109")
        r = c.post(f"/v1/decisions:batch?bundle={older_key}", json=[household, dict(household, bundle=newer_key)])
        assert [d["bundle"]["version"] for d in r.json()] == [shipped["manifest"]["version"], "9.0.0"]
        assert c.get(f"/v1/schemas/request?bundle={older_key}").status_code == 200
        assert c.get("/openapi.json?bundle=" + older_key).json()["x-policyc-bundle"]["version"] == \
            shipped["manifest"]["version"]
        problem(c.get("/v1/localities?bundle=nope@1"), 404, "S0201")


def test_same_version_with_other_content_is_refused(tmp_path, shipped):
    a = write(tmp_path / "a.json", shipped)
    b = write(tmp_path / "b.json", variant(shipped, title="另一个"))
    with serve(a, b) as c:
        listing = c.get("/v1/bundles").json()
        assert listing["loaded"] == [f"shanxi@{shipped['manifest']['version']}"]
        assert listing["bundles"][1]["last_error"]["code"] == "S0204"


def test_version_order():
    assert version_key("0.10.0") > version_key("0.9.1") > version_key("0.9")
    assert version_key("10.0") > version_key("9.9.9") and version_key("1.0") > version_key("1.beta")


# ── hot reload ───────────────────────────────────────────────────────────────────────────────────────────────────
def test_forced_reload_good_bad_good(bundle_file, shipped, household):
    v = shipped["manifest"]["version"]
    with serve(bundle_file, admin_token=TOKEN) as c:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = c.post("/v1/bundles:reload", headers=auth)
        assert r.status_code == 200 and r.json()["results"][0]["result"] == "unchanged"
        # good: a new version replaces the old one
        write(bundle_file, variant(shipped, version="2.0.0"))
        r = c.post("/v1/bundles:reload", headers=auth)
        assert r.status_code == 200 and r.json()["results"][0] == {"path": str(bundle_file), "result": "reloaded",
                                                                  "key": "shanxi@2.0.0", "error": None}
        assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == "2.0.0"
        problem(c.post(f"/v1/decisions?bundle=shanxi@{v}", json=household), 404, "S0201")
        # bad: tampered, and then not JSON at all — refused, the last good keeps answering
        for bad, code in ((tampered(variant(shipped, version="3.0.0")), "R0201"), (b'{"manifest": ', "R0201")):
            write(bundle_file, bad)
            body = problem(c.post("/v1/bundles:reload", headers=auth), 422, "S0304")
            assert body["problems"][0]["path"] == str(bundle_file) and code in body["problems"][0]["message"]
            assert body["results"][0]["result"] == "failed" and body["default"] == "shanxi@2.0.0"
            assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == "2.0.0"
            listing = c.get("/v1/bundles").json()["bundles"][0]
            assert listing["key"] == "shanxi@2.0.0" and listing["last_error"]["code"] == code
            assert listing["last_error"]["message"] and listing["last_error"]["at"]
            metrics = c.get("/metrics").text
            assert f'policyc_bundle_reload_failing{{path="{bundle_file}"}} 1.0' in metrics
            assert f'policyc_bundle_last_reload_error{{code="{code}",' in metrics
            assert c.get("/readyz").status_code == 200
        # good again
        write(bundle_file, variant(shipped, version="3.0.0"))
        r = c.post("/v1/bundles:reload", headers=auth)
        assert r.status_code == 200 and r.json()["results"][0]["key"] == "shanxi@3.0.0"
        listing = c.get("/v1/bundles").json()["bundles"][0]
        assert listing["last_error"] is None and listing["reloads"] == {"ok": 3, "failed": 2}
        metrics = c.get("/metrics").text
        assert f'policyc_bundle_reload_failing{{path="{bundle_file}"}} 0.0' in metrics
        assert "policyc_bundle_last_reload_error{" not in metrics
        assert f'policyc_bundle_reloads_total{{path="{bundle_file}",result="failed"}} 2.0' in metrics
        assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == "3.0.0"


def test_background_polling_keeps_last_good(bundle_file, shipped, household):
    def wait_for(check, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return False

    with serve(bundle_file, reload_interval=0.05) as c:
        bundle_file.write_bytes(jsonio.dumps(tampered(shipped), indent=None).encode())  # in place (same inode)
        assert wait_for(lambda: c.get("/v1/bundles").json()["bundles"][0]["last_error"] is not None)
        assert c.post("/v1/decisions", json=household).json()["bundle"]["sha256"] == shipped["manifest"]["sha256"]
        failed = c.get("/v1/bundles").json()["bundles"][0]["reloads"]["failed"]
        time.sleep(0.3)  # the same bad file is not loaded again and again
        assert c.get("/v1/bundles").json()["bundles"][0]["reloads"]["failed"] == failed
        write(bundle_file, shipped)  # back to the content being served: nothing to load, the error clears
        assert wait_for(lambda: c.get("/v1/bundles").json()["bundles"][0]["last_error"] is None)
        assert c.get("/v1/bundles").json()["bundles"][0]["reloads"]["ok"] == 1
        write(bundle_file, variant(shipped, version="4.0.0"))
        assert wait_for(lambda: c.get("/readyz").json()["default"] == "shanxi@4.0.0")
        bundle_file.unlink()  # a file that disappears: refused, the last good keeps serving
        assert wait_for(lambda: c.get("/v1/bundles").json()["bundles"][0]["last_error"] is not None)
        assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == "4.0.0"


def test_admin_token(bundle_file, tmp_path, monkeypatch):
    with serve(bundle_file) as c:  # no token configured: the endpoint is off
        problem(c.post("/v1/bundles:reload", headers={"Authorization": f"Bearer {TOKEN}"}), 403, "S0303")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with serve(bundle_file, admin_token_file=str(token_file)) as c:
        r = c.post("/v1/bundles:reload")
        problem(r, 401, "S0301")
        assert r.headers["www-authenticate"].startswith("Bearer")
        problem(c.post("/v1/bundles:reload", headers={"Authorization": TOKEN}), 401, "S0301")
        problem(c.post("/v1/bundles:reload", headers={"Authorization": "Bearer wrong-token-wrong-token"}), 403, "S0302")
        problem(c.post("/v1/bundles:reload", headers={"Authorization": f"Bearer {TOKEN}x"}), 403, "S0302")
        assert c.post("/v1/bundles:reload", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        problem(c.get("/v1/bundles:reload"), 405, "S0111")
    monkeypatch.setenv("POLICYC_ADMIN_TOKEN", TOKEN)
    with serve(bundle_file) as c:
        assert c.post("/v1/bundles:reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    monkeypatch.setenv("POLICYC_ADMIN_TOKEN", "short")
    with pytest.raises(ConfigError):
        create_app(ServeConfig(bundles=[str(bundle_file)]))


def test_signed_bundles(tmp_path, shipped, household):
    signing = pytest.importorskip("policyc.emit.signing")
    key = tmp_path / "release.key"
    kid = signing.generate_key(key)
    other = tmp_path / "other.key"
    signing.generate_key(other)
    path = write(tmp_path / "b.json", shipped)
    signing.sign_bundle(key, path)
    with serve(path, verify_keys=[f"{key}.pub"], admin_token=TOKEN) as c:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        listing = c.get("/v1/bundles").json()["bundles"][0]
        assert listing["signer"] == kid and listing["last_error"] is None
        assert f'signer="{kid}"' in c.get("/metrics").text
        # a new version without a new signature: the old signature does not cover it
        write(path, variant(shipped, version="5.0.0"))
        body = problem(c.post("/v1/bundles:reload", headers=auth), 422, "S0304")
        assert "R0203" in body["problems"][0]["message"]
        signing.sign_bundle(other, path)  # signed, but by a key that is not trusted
        assert "R0204" in problem(c.post("/v1/bundles:reload", headers=auth), 422, "S0304")["problems"][0]["message"]
        Path(f"{path}.sig").unlink()
        assert "R0202" in problem(c.post("/v1/bundles:reload", headers=auth), 422, "S0304")["problems"][0]["message"]
        assert c.post("/v1/decisions", json=household).json()["bundle"]["version"] == shipped["manifest"]["version"]
        signing.sign_bundle(key, path)  # re-signed by the trusted key: a new signature file alone triggers it
        r = c.post("/v1/bundles:reload", headers=auth)
        assert r.status_code == 200 and r.json()["results"][0]["key"] == "shanxi@5.0.0"
        assert c.get("/v1/bundles").json()["bundles"][0]["signer"] == kid
    unsigned = write(tmp_path / "u.json", shipped)
    with serve(unsigned, verify_keys=[f"{key}.pub"]) as c:
        problem(c.get("/readyz"), 503, "S0202")
        assert c.get("/v1/bundles").json()["bundles"][0]["last_error"]["code"] == "R0202"


# ── decision log ─────────────────────────────────────────────────────────────────────────────────────────────────
def test_decision_log(bundle_file, tmp_path, household, ev):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with serve(bundle_file, decision_log=url) as c:
        r = c.post("/v1/decisions?programs=dibao", json=household)
        decision = jsonio.loads(r.text)
        decision_id = decision["decision_id"]
        assert r.headers["policyc-decision-id"] == decision_id
        assert {k: v for k, v in decision.items() if k != "decision_id"} == \
            jsonio.loads(ev.evaluate_json(household, programs=["dibao"]))
        entry = c.get(f"/v1/decisions/{decision_id}")
        assert entry.status_code == 200
        assert jsonio.loads(entry.text)["decision"] == decision
        problem(c.get("/v1/decisions/0190b7d8-0000-7000-8000-000000000000"), 404, "S0402")
        batch = c.post("/v1/decisions:batch", json=[household, {"bad": 1}, household]).json()
        ids = [d.get("decision_id") for d in batch]
        assert ids[0] and ids[2] and ids[1] is None and len(set(ids)) == 3
        ndjson = c.post("/v1/decisions:batch", content=line(household) + "\n",
                        headers={"content-type": "application/x-ndjson"})
        ids.append(json.loads(ndjson.text)["decision_id"])
        doc = c.get("/openapi.json").json()
        assert doc["paths"]["/v1/decisions"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] \
            == {"$ref": "#/components/schemas/LoggedDecision"}
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.Draft202012Validator(doc["components"]["schemas"]["LoggedDecision"]).validate(json.loads(r.text))
    from policyc.serve.decisionlog import open_log
    log = open_log(url)
    try:
        for i in [decision_id] + [i for i in ids if i]:
            assert log.get(i) is not None
        assert log.count() == 4
    finally:
        log.close()


def test_unlogged_decisions_are_not_answered(bundle_file, tmp_path, household):
    with serve(bundle_file, decision_log=f"sqlite:///{tmp_path / 'd.db'}") as c:
        async def refuse(entry):
            raise OSError("disk full")
        c.service.writer.submit = refuse
        body = problem(c.post("/v1/decisions", json=household), 503, "S0403")
        assert "disk full" in body["problems"][0]["message"] and "programs" not in body
        r = c.post("/v1/decisions:batch", content=line(household) + "\n",
                   headers={"content-type": "application/x-ndjson"})
        assert json.loads(r.text)["error"] == "S0403" and "decision_id" not in r.text
        assert "policyc_decision_log_failures_total 2.0" in c.get("/metrics").text


def test_no_decision_log_configured(client):
    problem(client.get("/v1/decisions/abc"), 404, "S0401")


# ── configuration and the command ────────────────────────────────────────────────────────────────────────────────
def test_config_travels_through_the_environment(bundle_file):
    config = ServeConfig(bundles=[str(bundle_file)], workers=3, max_body=10, admin_token=TOKEN)
    text = config.to_env()
    assert TOKEN not in text
    again = ServeConfig.from_env({"POLICYC_SERVE_CONFIG": text})
    assert again == config and again.admin_token is None
    with pytest.raises(ConfigError):
        ServeConfig.from_env({})
    with pytest.raises(ConfigError):
        ServeConfig(bundles=[str(bundle_file)], max_body=0).check()


def test_command_refuses_bad_configuration(bundle_file, tmp_path, capsys):
    from policyc.cli import build_parser, main
    args = build_parser().parse_args(["serve", "--bundle", str(bundle_file)])
    assert (args.host, args.port, args.workers, args.reload_interval) == ("127.0.0.1", 8000, 1, 5.0)
    assert main(["serve", "--bundle", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    (tmp_path / "not-a-key.pub").write_text("hello")
    assert main(["serve", "--bundle", str(bundle_file), "--verify-key", str(tmp_path / "not-a-key.pub")]) == 2
    assert "R0206" in capsys.readouterr().err
    assert main(["serve", "--bundle", str(bundle_file), "--admin-token-file", str(tmp_path / "none")]) == 2
    assert main(["serve", "--bundle", str(bundle_file), "--max-body", "0"]) == 2
    assert main(["serve", "--bundle", str(bundle_file), "--decision-log", "ftp://x/y"]) == 2
    assert "L0001" in capsys.readouterr().err


BLOCKER = r"""
import importlib.abc, sys
BLOCKED = ("lark", "yaml", "jinja2", "jsonschema")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED or name in ("policyc.compiler", "policyc.emit", "policyc.check",
                                                    "policyc.load", "policyc.dsl"):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
"""


def test_service_needs_no_compiler(bundle_file, household_text, tmp_path):
    code = BLOCKER + (
        "import json, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from starlette.testclient import TestClient\n"
        "from policyc.serve.app import create_app\n"
        "from policyc.serve.config import ServeConfig\n"
        "from policyc.cli import build_parser\n"
        "build_parser().parse_args(['serve', '--bundle', 'x'])\n"
        f"app = create_app(ServeConfig(bundles=[{str(bundle_file)!r}], reload_interval=0,"
        f" decision_log={'sqlite:///' + str(tmp_path / 'log.db')!r}))\n"
        "with TestClient(app) as c:\n"
        f"    r = c.post('/v1/decisions', content={household_text!r}.encode('utf-8'))\n"
        "    assert r.status_code == 200, r.text\n"
        "    doc = c.get('/openapi.json').json()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)\n"
        "print(json.dumps([bad, r.json()['bundle']['id'], 'Decision' in doc['components']['schemas']]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[], "shanxi", True]


def test_a_json_batch_whose_answer_would_be_too_large_is_refused_whole(bundle_file, household, monkeypatch):
    from policyc.serve import app as app_module
    one = len(load(SHIPPED).evaluate_json(household))
    monkeypatch.setattr(app_module, "MAX_BATCH_ANSWER", one * 2)  # the real bound is 64 MB
    with serve(bundle_file) as c:
        assert c.post("/v1/decisions:batch", json=[household] * 2).status_code == 200
        body = problem(c.post("/v1/decisions:batch", json=[household] * 70), 413, "S0114")
        assert "未记录、未答复" in body["problems"][0]["message"]
        ndjson = "\n".join([line(household)] * 3) + "\n"  # NDJSON streams: no such bound
        r = c.post("/v1/decisions:batch", content=ndjson, headers={"content-type": "application/x-ndjson"})
        assert r.status_code == 200 and len(r.text.splitlines()) == 3


def test_a_number_too_large_to_convert_is_malformed_json_not_a_stalled_server(client, household_text):
    body = household_text.replace('"monthly_income"', '"age": 1e1000000, "x_monthly_income"', 1)
    problem(client.post("/v1/decisions", content=body), 400, "S0101")
