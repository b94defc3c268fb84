"""`policyc serve`: run the decision service."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .config import (DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, DEFAULT_MAX_MEMBERS, DEFAULT_RELOAD_INTERVAL, ENV_ADMIN_TOKEN,
                     ENV_CONFIG, ConfigError, ServeConfig)

EXIT_USAGE = 2
# bounds of the numeric flags (argparse refuses anything else in Chinese, exit 2, before the server starts)
MAX_WORKERS = 512
MAX_BODY = 1 << 30  # bytes
MAX_MEMBERS = 1000
MAX_BATCH = 1_000_000
MAX_RELOAD_INTERVAL = 86_400.0  # seconds: a day


def register(sub) -> None:
    """Add the `serve` subcommand to the CLI's subparsers."""
    from ..cli import float_arg, int_arg
    p = sub.add_parser("serve", help="运行决定服务（HTTP）：请求进，决定出",
                       description="在 uvicorn 上运行决定服务；默认只监听 127.0.0.1。见 docs/service.md。")
    p.add_argument("--bundle", action="append", required=True, metavar="PATH",
                   help="规则包文件（可多次给出，同时提供多个版本；默认使用已加载的最新版本）")
    p.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1，只接受本机连接）")
    p.add_argument("--port", type=int_arg(0, 65535), default=8000, help="端口（0 至 65535，默认 8000）")
    p.add_argument("--workers", type=int_arg(1, MAX_WORKERS), default=1, help=f"工作进程数（1 至 {MAX_WORKERS}，默认 1）")
    p.add_argument("--verify-key", action="append", default=[], metavar="PUB",
                   help="可信 ed25519 公钥（PEM 文件，可多次给出）：给出后只加载经其中一个公钥签名的规则包")
    p.add_argument("--decision-log", metavar="URL",
                   help="决定日志：sqlite:///路径、文件路径或 postgresql://…；给出后每个决定先写入日志再答复")
    p.add_argument("--admin-token-file", metavar="F",
                   help=f"管理令牌文件（POST /v1/bundles:reload 需要）；也可用环境变量 {ENV_ADMIN_TOKEN}；都没有时管理接口停用")
    p.add_argument("--max-body", type=int_arg(1, MAX_BODY), default=DEFAULT_MAX_BODY, metavar="BYTES",
                   help=f"请求体上限（字节，1 至 {MAX_BODY}，默认 {DEFAULT_MAX_BODY}）")
    p.add_argument("--max-members", type=int_arg(1, MAX_MEMBERS), default=DEFAULT_MAX_MEMBERS, metavar="N",
                   help=f"每个家庭的成员数上限（1 至 {MAX_MEMBERS}，默认 {DEFAULT_MAX_MEMBERS}）")
    p.add_argument("--max-batch", type=int_arg(1, MAX_BATCH), default=DEFAULT_MAX_BATCH, metavar="N",
                   help=f"批量请求的条数上限（1 至 {MAX_BATCH}，默认 {DEFAULT_MAX_BATCH}）")
    p.add_argument("--reload-interval", type=float_arg(0, MAX_RELOAD_INTERVAL), default=DEFAULT_RELOAD_INTERVAL,
                   metavar="S", help=f"每隔多少秒检查规则包文件是否改变（0 至 {MAX_RELOAD_INTERVAL:g}，"
                                     f"默认 {DEFAULT_RELOAD_INTERVAL:g}；0 表示不检查）")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="日志级别（默认 info）")
    p.set_defaults(func=cmd_serve)


def _fail(message: str) -> int:
    print(f"policyc serve: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_serve(args) -> int:
    from policyc.runtime import RuntimeFault

    config = ServeConfig(bundles=[os.path.abspath(b) for b in args.bundle], host=args.host, port=args.port, workers=args.workers,
                         verify_keys=list(args.verify_key), decision_log=args.decision_log,
                         admin_token_file=args.admin_token_file, max_body=args.max_body,
                         max_members=args.max_members, max_batch=args.max_batch,
                         reload_interval=args.reload_interval)
    missing = [b for b in config.bundles if not Path(b).is_file()]
    if missing:
        return _fail(f"规则包文件不存在：{'、'.join(missing)}")
    try:
        from .app import create_app
        app = create_app(config)  # checks the limits, the admin token and the trusted keys
        if config.decision_log:  # a log that cannot be opened stops the start with a message, not a traceback
            from .decisionlog import DecisionLogError, open_log
            try:
                open_log(config.decision_log).close()
            except DecisionLogError as err:
                return _fail(f"[{err.code}] {err}")
    except ConfigError as err:
        return _fail(str(err))
    except RuntimeFault as err:  # TrustedKeyError: a --verify-key that is no ed25519 public key
        return _fail(f"[{err.code}] {err}")

    import uvicorn
    common = dict(host=config.host, port=config.port, log_level=args.log_level, timeout_graceful_shutdown=30,
                  http="policyc.serve.http:NoDelayH11Protocol")
    if config.workers == 1:
        uvicorn.run(app, **common)
    else:
        # each worker process imports the factory and reads the configuration from the environment
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            print(f"policyc serve: 注意：{config.workers} 个工作进程各自计数，/metrics 只反映答复它的那个进程；"
                  "要汇总，请在启动前把 PROMETHEUS_MULTIPROC_DIR 设为一个空目录（见 docs/service.md）", file=sys.stderr)
        os.environ[ENV_CONFIG] = config.to_env()
        uvicorn.run("policyc.serve.app:app_from_env", factory=True, workers=config.workers, **common)
    return 0
