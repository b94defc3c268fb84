"""Every error the service answers, in the shape of the CLI's problem list:
{"error": code, "message": 中文, "problems": [{"path", "message"}]}.

Codes are stable: the runtime's own (R01xx bad request, R0301 cannot be decided) pass through unchanged; the
service adds S01xx (the HTTP request), S02xx (bundles), S03xx (administration), S04xx (decision log) and S05xx
(the server itself).
"""
from __future__ import annotations

import json

from starlette.responses import Response

from policyc.runtime import InputError, RuntimeFault, jsonio

# code: (HTTP status, message)
CODES: dict[str, tuple[int, str]] = {
    "S0101": (400, "请求体不是有效的 JSON"),
    "S0102": (400, "请求体不是 UTF-8 编码的文本"),
    "S0103": (400, "请求体的 JSON 嵌套过深"),
    "S0104": (413, "请求体过大"),
    "S0105": (413, "家庭成员过多"),
    "S0106": (413, "批量请求条数过多"),
    "S0107": (422, "批量请求应为 JSON 数组"),
    "S0108": (415, "不支持的请求体类型"),
    "S0109": (422, "查询参数无效"),
    "S0110": (404, "没有这个地址"),
    "S0111": (405, "该地址不支持这个请求方法"),
    "S0112": (400, "请求头无效"),
    "S0113": (400, "请求体未完整收到"),
    "S0114": (413, "批量答复过大，请减少每批的条数"),
    "S0201": (404, "没有加载所请求的规则包"),
    "S0202": (503, "尚未加载任何规则包"),
    "S0301": (401, "需要管理令牌"),
    "S0302": (403, "管理令牌不正确"),
    "S0303": (403, "未配置管理令牌，管理接口已停用"),
    "S0304": (422, "有规则包未能重新加载，仍使用上一个有效版本"),
    "S0401": (404, "未配置决定日志"),
    "S0402": (404, "决定日志中没有这个决定"),
    "S0403": (503, "决定未能写入决定日志，未作答复"),
    "S0404": (503, "读取决定日志失败"),
    "S0501": (500, "服务内部错误（已记录）"),
}

# runtime faults: InputError and LocalityError (R01xx), EvaluationError (R0301) — the request's doing
RUNTIME_STATUS = 422


class Problem(Exception):
    """An error answer. `problems` are (path, message) pairs; `extra` adds fields to the JSON object."""

    def __init__(self, code: str, problems=(), message: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        self.code = code
        self.status, default = CODES[code]
        self.message = message or default
        self.problems = list(problems)
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(f"{code}: {self.message}")

    def to_json(self) -> dict:
        out = {"error": self.code, "message": self.message,
               "problems": [{"path": p, "message": m} for p, m in self.problems]}
        out.update(self.extra)
        return out


def fault_json(err: RuntimeFault) -> dict:
    """A runtime fault as a problem object: InputError with its JSON paths, others with their one message."""
    if isinstance(err, InputError):
        return err.to_json()
    return {"error": err.code, "message": "无法评估", "problems": [{"path": "$", "message": str(err)}]}


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    """Data with exact Decimals (policyc.runtime.jsonio)."""
    return Response(jsonio.dumps(data, indent=None), status_code=status, headers=headers,
                    media_type="application/json")


def plain_json(data) -> str:
    """Problems hold text only, some of it echoed from the request: written by the standard encoder, which
    needs no marker for Decimals, so no request text can ever be mistaken for one."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def problem_response(problem: Problem) -> Response:
    return Response(plain_json(problem.to_json()), status_code=problem.status, headers=problem.headers,
                    media_type="application/json")


def fault_response(err: RuntimeFault) -> Response:
    return Response(plain_json(fault_json(err)), status_code=RUNTIME_STATUS, media_type="application/json")
