"""What a `policyc serve` process is told: bundles, limits, keys, decision log, admin token.

With several workers uvicorn starts the app from an import string in fresh processes, so the configuration
travels as JSON in the environment variable POLICYC_SERVE_CONFIG. The admin token itself never goes into that
JSON: each process reads it from --admin-token-file or from POLICYC_ADMIN_TOKEN.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_CONFIG = "POLICYC_SERVE_CONFIG"
ENV_ADMIN_TOKEN = "POLICYC_ADMIN_TOKEN"

DEFAULT_MAX_BODY = 1024 * 1024  # bytes
DEFAULT_MAX_MEMBERS = 30  # household members per request (the request schema's own maximum)
DEFAULT_MAX_BATCH = 1000  # requests per batch
DEFAULT_RELOAD_INTERVAL = 5.0  # seconds; 0 turns polling off
MIN_ADMIN_TOKEN = 16  # characters


class ConfigError(Exception):
    """A configuration mistake, reported in Chinese before the server starts."""


@dataclass
class ServeConfig:
    bundles: list[str]
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    verify_keys: list[str] = field(default_factory=list)
    decision_log: str | None = None
    admin_token_file: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_members: int = DEFAULT_MAX_MEMBERS
    max_batch: int = DEFAULT_MAX_BATCH
    reload_interval: float = DEFAULT_RELOAD_INTERVAL
    # Given directly (tests, embedding); never serialised. Otherwise read from the file or the environment.
    admin_token: str | None = field(default=None, repr=False, compare=False)

    def check(self) -> "ServeConfig":
        if not self.bundles:
            raise ConfigError("至少需要一个 --bundle")
        for name in ("max_body", "max_members", "max_batch", "workers"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} 应为正整数")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"端口 {self.port} 无效")
        if self.reload_interval < 0:
            raise ConfigError("--reload-interval 不能为负数")
        return self

    def to_env(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("admin_token")
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_env(cls, environ=os.environ) -> "ServeConfig":
        text = environ.get(ENV_CONFIG)
        if not text:
            raise ConfigError(f"环境变量 {ENV_CONFIG} 未设置：请用 policyc serve 启动服务")
        try:
            data = json.loads(text)
            known = {f.name for f in dataclasses.fields(cls)} - {"admin_token"}
            return cls(**{k: v for k, v in data.items() if k in known}).check()
        except (ValueError, TypeError) as err:
            raise ConfigError(f"环境变量 {ENV_CONFIG} 不是有效的配置：{err}") from None

    def resolve_admin_token(self, environ=os.environ) -> str | None:
        """The admin token: given directly, else read from --admin-token-file, else POLICYC_ADMIN_TOKEN; None
        turns the admin endpoints off."""
        if self.admin_token is not None:
            token, where = self.admin_token, "admin_token"
        elif self.admin_token_file:
            try:
                token = Path(self.admin_token_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                from ..runtime.errtext import os_reason
                raise ConfigError(f"无法读取管理令牌文件 {self.admin_token_file}：{os_reason(err)}") from None
            where = self.admin_token_file
        elif environ.get(ENV_ADMIN_TOKEN):
            token, where = environ[ENV_ADMIN_TOKEN], ENV_ADMIN_TOKEN
        else:
            return None
        token = token.strip()
        if len(token) < MIN_ADMIN_TOKEN or any(c.isspace() or not c.isprintable() for c in token):
            raise ConfigError(f"管理令牌（{where}）应为至少 {MIN_ADMIN_TOKEN} 个可打印字符、不含空白")
        return token
