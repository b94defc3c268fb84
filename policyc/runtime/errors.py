"""Errors the runtime raises for bad requests and untrustworthy bundles."""


class RuntimeFault(Exception):
    """Base of all runtime errors; `code` is stable, the message is Chinese."""

    code = "R0000"


class InputError(RuntimeFault):
    """The request does not match the bundle's input contract; lists every problem with its JSON path."""

    code = "R0101"

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("；".join(f"{path}: {msg}" for path, msg in problems))

    def to_json(self) -> dict:
        return {"error": self.code, "message": "请求数据不符合输入格式",
                "problems": [{"path": p, "message": m} for p, m in self.problems]}


class LocalityError(InputError):
    code = "R0102"


class BundleError(RuntimeFault):
    """The bundle cannot be trusted or read: bad JSON, wrong format version or a hash mismatch."""

    code = "R0201"
