"""The OpenAPI 3.1 document of the service. Its request and decision schemas are the bundle's own generated JSON
Schemas (bundle["schemas"]), embedded unchanged as components `Request` and `Decision`: OpenAPI 3.1 schemas are
JSON Schema 2020-12, and each keeps its `$id`, so its internal `#/$defs/…` references resolve inside it.

The generated decision schema is closed (additionalProperties: false) and allows an optional `decision_id`; with
a decision log every answer has one, so the answers are then described by `LoggedDecision`: the same schema under
another `$id`, with `decision_id` required. The request schema is closed too: the optional `bundle` field a request body
may carry to pick a bundle is taken out before evaluation and is described in the operation, not in `Request`.
"""
from __future__ import annotations

import copy

from policyc import __version__

from .registry import Loaded

_PROBLEM = {
    "type": "object", "required": ["error", "message", "problems"],
    "properties": {
        "error": {"type": "string", "description": "稳定的错误代码（R01xx 请求不符合输入格式，R0301 无法评估，S…… 服务）"},
        "message": {"type": "string"},
        "problems": {"type": "array", "items": {
            "type": "object", "required": ["path", "message"],
            "properties": {"path": {"type": "string", "description": "JSON 路径（如 $.household.members[1].monthly_income）或查询参数（?date）"},
                           "message": {"type": "string"}}}},
    },
}
_BATCH_PROBLEM = {"allOf": [{"$ref": "#/components/schemas/Problem"}],
                  "required": ["index", "status"],
                  "properties": {"index": {"type": "integer", "minimum": 0, "description": "该条在批量请求中的位置（从 0 起）"},
                                 "status": {"type": "integer", "description": "单独请求时会得到的 HTTP 状态码"}}}


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, required: bool = False, example=None) -> dict:
    out = {"name": name, "in": "query", "required": required, "description": description,
           "schema": {"type": "string"}}
    if example is not None:
        out["example"] = example
    return out


def logged_decision_schema(decision: dict) -> dict:
    schema = copy.deepcopy(decision)
    if isinstance(schema.get("$id"), str):
        schema["$id"] = schema["$id"].replace("decision.schema.json", "logged-decision.schema.json")
        if schema["$id"] == decision["$id"]:
            schema["$id"] += "-logged"
    schema["title"] = f"{decision.get('title', '决定')}（含决定日志编号）"
    schema.setdefault("properties", {})
    schema["properties"] = {"decision_id": {"type": "string", "description": "决定日志中的编号（UUIDv7）：GET /v1/decisions/{id}"},
                            **schema["properties"]}
    schema["required"] = ["decision_id", *schema.get("required", [])]
    return schema


def document(loaded: Loaded, *, logging: bool, loaded_keys: list[str]) -> dict:
    schemas = loaded.evaluator.bundle["schemas"]
    decision_ref = {"$ref": "#/components/schemas/" + ("LoggedDecision" if logging else "Decision")}
    request_ref = {"$ref": "#/components/schemas/Request"}
    bundle_q = _query("bundle", "所用规则包：id@version 或 id（该 id 已加载的最新版本）；默认为已加载的最新版本。"
                                "也可以在请求体中用 bundle 字段指定（两者同时给出时须一致）",
                      example=loaded.key)
    programs_q = _query("programs", "只评估这些程序（及其依赖），逗号分隔；默认全部："
                        + "、".join(loaded.evaluator.program_ids), example="dibao,temporary")
    locality_q = _query("locality", "地区代码或名称：代替请求中的 locality")
    date_q = _query("date", "评估日期 YYYY-MM-DD：代替请求中的 date")
    errors = {"400": _problem("请求体不是有效的 JSON 或 UTF-8"),
              "404": _problem("没有加载所请求的规则包"),
              "413": _problem("请求体过大，或家庭成员、批量条数过多"),
              "422": _problem("请求不符合输入格式（每个问题带 JSON 路径）或无法评估"),
              "503": _problem("尚未加载规则包，或决定未能写入决定日志")}
    item = {"oneOf": [decision_ref, {"$ref": "#/components/schemas/BatchProblem"}]}
    paths = {
        "/v1/decisions": {"post": {
            "operationId": "decide", "summary": "评估一个家庭，返回决定",
            "parameters": [bundle_q, programs_q, locality_q, date_q],
            "requestBody": {"required": True, "content": {"application/json": {"schema": request_ref}}},
            "responses": {"200": _json("决定（金额为精确小数）" + ("，含 decision_id" if logging else ""), decision_ref),
                          **errors}}},
        "/v1/decisions:batch": {"post": {
            "operationId": "decideBatch", "summary": "批量评估：JSON 数组，或 NDJSON（每行一个请求，按行流式返回）",
            "parameters": [bundle_q, programs_q, locality_q, date_q],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "array", "items": request_ref}},
                "application/x-ndjson": {"schema": request_ref, "description": "每行一个请求"}}},
            "responses": {"200": {"description": "每条请求依次对应一个决定或一个带 index 的问题对象",
                                  "content": {"application/json": {"schema": {"type": "array", "items": item}},
                                              "application/x-ndjson": {"schema": item,
                                                                       "description": "每行一个结果，与请求行一一对应"}}},
                          **{k: v for k, v in errors.items() if k != "404"},
                          "415": _problem("不支持的请求体类型")}}},
        "/v1/decisions/{id}": {"get": {
            "operationId": "getDecision", "summary": "从决定日志中读取一个决定及其请求（个人字段已屏蔽）",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json("决定日志条目", {"type": "object"}),
                          "404": _problem("未配置决定日志，或没有这个决定"),
                          "503": _problem("读取决定日志失败")}}},
        "/v1/parameters": {"get": {
            "operationId": "parameters", "summary": "某地某日适用的全部参数及其来源（同 policyc params）",
            "parameters": [_query("locality", "地区代码或名称", True, "140105"),
                           _query("date", "日期 YYYY-MM-DD", True, "2024-07-01"), bundle_q],
            "responses": {"200": _json("参数", {"type": "object"}), "404": errors["404"], "422": errors["422"]}}},
        "/v1/localities": {"get": {
            "operationId": "localities", "summary": "规则包中的行政区划",
            "parameters": [bundle_q], "responses": {"200": _json("行政区划", {"type": "object"})}}},
        "/v1/bundles": {"get": {
            "operationId": "bundles", "summary": "每个规则包来源：已加载的版本、sha256、签名者、加载时间、最近的加载错误",
            "responses": {"200": _json("规则包", {"type": "object"})}}},
        "/v1/bundles:reload": {"post": {
            "operationId": "reloadBundles", "summary": "立即检查并重新加载规则包（需要管理令牌）",
            "security": [{"adminToken": []}],
            "responses": {"200": _json("每个来源的结果", {"type": "object"}),
                          "401": _problem("缺少管理令牌"), "403": _problem("管理令牌不正确，或未配置管理令牌"),
                          "422": _problem("有规则包被拒绝，仍使用上一个有效版本")}}},
        "/v1/schemas/request": {"get": {
            "operationId": "requestSchema", "summary": "规则包生成的请求 JSON Schema", "parameters": [bundle_q],
            "responses": {"200": _json("JSON Schema", {"type": "object"})}}},
        "/v1/schemas/decision": {"get": {
            "operationId": "decisionSchema", "summary": "规则包生成的决定 JSON Schema", "parameters": [bundle_q],
            "responses": {"200": _json("JSON Schema", {"type": "object"})}}},
        "/healthz": {"get": {"operationId": "healthz", "summary": "进程存活",
                             "responses": {"200": _json("存活", {"type": "object"})}}},
        "/readyz": {"get": {"operationId": "readyz", "summary": "至少加载了一个规则包",
                            "responses": {"200": _json("就绪", {"type": "object"}), "503": _problem("尚未就绪")}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus 指标",
                             "responses": {"200": {"description": "Prometheus 文本格式",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    components = {"Request": schemas["request"], "Decision": schemas["decision"],
                  "Problem": _PROBLEM, "BatchProblem": _BATCH_PROBLEM}
    if logging:
        components["LoggedDecision"] = logged_decision_schema(schemas["decision"])
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "policyc 决定服务", "version": __version__,
                 "description": f"山西省社会救助政策规则包的决定服务。本文档中的请求与决定 JSON Schema 取自规则包 "
                                f"{loaded.key}（sha256 {loaded.sha256}）；已加载：{'、'.join(loaded_keys)}。"},
        "x-policyc-bundle": {"id": loaded.id, "version": loaded.version, "sha256": loaded.sha256},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                                          "description": "--admin-token-file 或 POLICYC_ADMIN_TOKEN"}}},
    }
