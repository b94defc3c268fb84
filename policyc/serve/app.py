"""The Starlette app of `policyc serve`: routes, authentication of the admin endpoint, and errors as JSON.

    from policyc.serve.app import create_app
    app = create_app(ServeConfig(bundles=["generated/shanxi.bundle.json"]))

`app_from_env()` is the factory uvicorn imports in each worker process (configuration in POLICYC_SERVE_CONFIG).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hmac
import logging

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from policyc.runtime import RuntimeFault

from .bodies import parse_json, read_body
from .config import ServeConfig
from .metrics import MetricsMiddleware
from .openapi import document
from .problems import Problem, fault_response, json_response, plain_json, problem_response
from .service import CHUNK, Answer, Service, parse_options

log = logging.getLogger("policyc.serve")

NDJSON = "application/x-ndjson"


def _service(request: Request) -> Service:
    return request.app.state.service


def guarded(handler):
    """Every answer JSON: Problems and runtime faults become their problem objects; anything else is logged
    with its traceback on the server and answered 500 without one."""
    @functools.wraps(handler)
    async def run(request: Request):
        try:
            return await handler(request)
        except Problem as p:
            return problem_response(p)
        except RuntimeFault as err:
            _service(request).metrics.refusals.labels(err.code).inc()
            return fault_response(err)
        except ClientDisconnect:  # nobody is left to read it
            return problem_response(Problem("S0113", [("$", "客户端在请求体发送完之前断开")]))
        except Exception:  # noqa: BLE001
            log.exception("处理 %s %s 时出错", request.method, request.url.path)
            return problem_response(Problem("S0501"))
    return run


# ── decisions ─────────────────────────────────────────────────────────────────────────────────────────────────
@guarded
async def decide(request: Request):
    svc = _service(request)
    options = parse_options(request.query_params)
    body = parse_json(await read_body(request, svc.config.max_body))
    snap = svc.registry.snapshot  # this request sees one set of bundles, whatever reloads meanwhile
    answer = svc.evaluate(snap, body, options)  # on the loop: see service.py for why not in a thread
    await svc.commit([answer])  # logged (committed) before it is answered
    svc.count([answer])
    headers = {"Policyc-Bundle": answer.loaded.key}
    if answer.entry is not None:
        headers["Policyc-Decision-Id"] = answer.entry["decision_id"]
    return Response(answer.text, media_type="application/json", headers=headers)


@guarded
async def decide_batch(request: Request):
    svc = _service(request)
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", NDJSON, ""):
        raise Problem("S0108", [("Content-Type", f"应为 application/json（JSON 数组）或 {NDJSON}（每行一个请求），"
                                                  f"而不是 {kind[:60]}")])
    options = parse_options(request.query_params)
    raw = await read_body(request, svc.config.max_body)
    snap = svc.registry.snapshot
    if kind == NDJSON:
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        _check_batch(len(lines), svc.config.max_batch)
        snap.select(options.selector)  # a bundle that is not loaded fails the whole batch, before any output
        return StreamingResponse(_stream(svc, snap, lines, options), media_type=NDJSON)
    items = parse_json(raw)
    if not isinstance(items, list):
        raise Problem("S0107", [("$", "批量请求应为 JSON 数组（每项一个请求），或以 application/x-ndjson 逐行发送")])
    _check_batch(len(items), svc.config.max_batch)
    snap.select(options.selector)
    answers: list[Answer] = []
    size = 0
    for start in range(0, len(items), CHUNK):
        chunk = await anyio.to_thread.run_sync(svc.evaluate_many, snap, items[start:start + CHUNK], options, start)
        answers += chunk
        size += sum(len(a.text) for a in chunk)
        if size > MAX_BATCH_ANSWER:  # a household with every fact unknown answers with megabytes of missing facts
            raise Problem("S0114", [("$", f"前 {len(answers)} 条的答复已超过 {MAX_BATCH_ANSWER // 2**20} MB；"
                                          f"未记录、未答复任何一条。请分批发送，或用 {NDJSON} 逐行接收")])
    await svc.commit(answers)
    svc.count(answers)
    return Response("[" + ",".join(a.text for a in answers) + "]", media_type="application/json")


# A JSON-array batch is answered as one body: its size is bounded (NDJSON answers stream chunk by chunk instead).
MAX_BATCH_ANSWER = 64 * 2**20


def _check_batch(count: int, limit: int) -> None:
    if count > limit:
        raise Problem("S0106", [("$", f"最多 {limit} 条，实际为 {count} 条")])


async def _stream(svc: Service, snap, lines: list[bytes], options):
    """NDJSON out, one line per input line, in order; each chunk is logged before it is sent."""
    for start in range(0, len(lines), CHUNK):
        answers = await anyio.to_thread.run_sync(svc.evaluate_many, snap, lines[start:start + CHUNK], options, start)
        try:
            await svc.commit(answers)
        except Problem as p:  # the status is sent already: these lines become problems, nothing unlogged is sent
            answers = [a if a.problem else svc.problem_answer(dict(p.to_json(), status=p.status), start + i)
                       for i, a in enumerate(answers)]
        svc.count(answers)
        yield "".join(a.text + "\n" for a in answers)


@guarded
async def get_decision(request: Request):
    svc = _service(request)
    if svc.log is None:
        raise Problem("S0401", [("$", "服务启动时没有指定 --decision-log")])
    decision_id = request.path_params["id"]
    try:
        text = await anyio.to_thread.run_sync(svc.log.get_json, decision_id)
    except Exception as err:  # noqa: BLE001 — DecisionLogError or a driver error
        log.error("读取决定日志失败：%s", err)
        raise Problem("S0404", [("$", str(err)[:300])]) from None
    if text is None:
        raise Problem("S0402", [("id", f"决定日志中没有编号为“{decision_id[:100]}”的决定")])
    return Response(text, media_type="application/json")


# ── what the bundles hold ─────────────────────────────────────────────────────────────────────────────────────
def _selected(request: Request):
    options = parse_options(request.query_params)
    return _service(request).registry.select(options.selector), options


@guarded
async def parameters(request: Request):
    loaded, options = _selected(request)
    missing = [(f"?{k}", "缺少此查询参数") for k in ("locality", "date") if request.query_params.get(k) is None]
    if missing:
        raise Problem("S0109", missing)
    ev = loaded.evaluator
    juris = ev.resolve_locality(options.locality, "?locality")
    day = _dt.date.fromisoformat(options.date)
    _, entries, _, _ = ev.params_at(juris["code"], day)
    return json_response({"bundle": ev.bundle_info, "locality": {"code": juris["code"], "name": juris["full_name"]},
                          "date": day.isoformat(),
                          "parameters": {pid: ev.describe(pid, entry) for pid, entry in entries.items()}},
                         headers={"Policyc-Bundle": loaded.key})


@guarded
async def localities(request: Request):
    loaded, _ = _selected(request)
    ev = loaded.evaluator
    items = [{"code": j["code"], "name": j["name"], "full_name": j["full_name"], "level": j["level"],
              "parent": j["parent"]} for j in ev.jurisdictions.values()]
    return json_response({"bundle": ev.bundle_info, "localities": items}, headers={"Policyc-Bundle": loaded.key})


@guarded
async def schema(request: Request):
    name = request.path_params["name"]
    if name not in ("request", "decision"):
        raise Problem("S0110", [("$", f"没有“{name[:40]}”模式：可用 request、decision")])
    loaded, _ = _selected(request)
    return json_response(loaded.evaluator.bundle["schemas"][name],
                         headers={"Policyc-Bundle": loaded.key})


@guarded
async def openapi(request: Request):
    svc = _service(request)
    loaded, _ = _selected(request)
    return json_response(document(loaded, logging=svc.log is not None, loaded_keys=sorted(svc.registry.snapshot.bundles)))


@guarded
async def bundles(request: Request):
    return json_response(_service(request).registry.describe())


@guarded
async def reload_bundles(request: Request):
    svc = _service(request)
    _authorise(request, svc.admin_token)
    results = await svc.registry.refresh(force=True)
    failed = [r for r in results if r["result"] == "failed"]
    body = {"results": results, **svc.registry.describe()}
    if failed:
        raise Problem("S0304", [(r["path"], f"[{r['error']['code']}] {r['error']['message']}") for r in failed],
                      extra=body)
    return json_response(body)


def _authorise(request: Request, token: str | None) -> None:
    if token is None:
        raise Problem("S0303", [("Authorization", "启动时用 --admin-token-file 或环境变量 POLICYC_ADMIN_TOKEN 配置管理令牌")])
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Problem("S0301", [("Authorization", "应为“Bearer <管理令牌>”")],
                      headers={"WWW-Authenticate": 'Bearer realm="policyc"'})
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise Problem("S0302", [("Authorization", "管理令牌不正确")])


# ── health ────────────────────────────────────────────────────────────────────────────────────────────────────
async def healthz(request: Request):
    return json_response({"status": "ok"})


@guarded
async def readyz(request: Request):
    snap = _service(request).registry.snapshot
    if snap.default is None:
        raise Problem("S0202", [("$", "没有任何规则包加载成功；见 GET /v1/bundles")])
    return json_response({"status": "ready", "default": snap.default.key, "loaded": sorted(snap.bundles)})


@guarded
async def metrics(request: Request):
    body, content_type = _service(request).metrics.render()
    return Response(body, media_type=content_type)


# ── errors outside the handlers ───────────────────────────────────────────────────────────────────────────────
async def _http_error(request: Request, exc: HTTPException):
    code = {404: "S0110", 405: "S0111"}.get(exc.status_code)
    if code is None:
        body = {"error": f"S{exc.status_code:04d}", "message": str(exc.detail), "problems": []}
        return Response(plain_json(body), status_code=exc.status_code, headers=exc.headers,
                        media_type="application/json")
    where = f"{request.method} {request.url.path}"[:200]
    return problem_response(Problem(code, [("$", where)], headers=dict(exc.headers or {})))


async def _server_error(request: Request, exc: Exception):
    log.error("未处理的错误：%s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(Problem("S0501"))


def create_app(config: ServeConfig) -> Starlette:
    """The app for one configuration; bundles are loaded and the decision log opened in its lifespan."""
    service = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route("/v1/decisions", decide, methods=["POST"]),
        Route("/v1/decisions:batch", decide_batch, methods=["POST"]),
        Route("/v1/decisions/{id}", get_decision, methods=["GET"]),
        Route("/v1/parameters", parameters, methods=["GET"]),
        Route("/v1/localities", localities, methods=["GET"]),
        Route("/v1/bundles", bundles, methods=["GET"]),
        Route("/v1/bundles:reload", reload_bundles, methods=["POST"]),
        Route("/v1/schemas/{name:str}", schema, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(MetricsMiddleware, metrics=service.metrics)],
                    exception_handlers={HTTPException: _http_error, Exception: _server_error})
    app.state.service = service
    return app


def app_from_env() -> Starlette:
    """uvicorn's factory in each worker process."""
    return create_app(ServeConfig.from_env())
