"""The corpus of broken policy sets (tests/corpus/broken.yaml): apply one entry to a copy of a frozen policy set
(tests/corpus/policy/, a snapshot of policies/shanxi) and collect what the compiler says. `python tools/corpus.py`
writes docs/errors.md from it. The snapshot is frozen so that an officer's change to the shipped values or rules
neither breaks an entry nor makes docs/errors.md stale; refresh it (copy policies/shanxi) only together with the
entries and the docs."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policyc.diagnostics import PolicyError, Reporter, render_text  # noqa: E402
from policyc.messages import MESSAGES  # noqa: E402

POLICY = ROOT / "tests" / "corpus" / "policy"  # shown in the docs as policies/shanxi
CORPUS = ROOT / "tests" / "corpus" / "broken.yaml"


def entries() -> list[dict]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


def apply(entry: dict, policy: Path) -> tuple[Path, int | None]:
    """Break the copy at `policy` as the entry says; the file touched and the expected line (None: any)."""
    if "create" in entry:
        target = policy / entry["create"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if "content_gbk" in entry:
            target.write_bytes(entry["content_gbk"].encode("gbk"))
        elif "content_yaml_depth" in entry:
            n = entry["content_yaml_depth"]
            target.write_text("parameters: " + "[" * n + "]" * n + "\n", encoding="utf-8")
        elif "content_expr_depth" in entry:
            n = entry["content_expr_depth"]
            target.write_text("定义 很深 (deep) = " + "(1 + " * n + "1" + ")" * n + "\n", encoding="utf-8")
        elif "content_size" in entry:  # a file of that many bytes: one comment line after another
            line = "# " + "注" * 32 + "\n"
            n = entry["content_size"]
            target.write_bytes((line * (n // len(line.encode()) + 1)).encode()[:n])
        elif "symlink" in entry:
            target.symlink_to(entry["symlink"])
        elif entry.get("fifo"):
            os.mkfifo(target)
        else:
            target.write_text(entry["content"], encoding="utf-8")
        if entry["create"].endswith("/占位"):
            target = target.parent
    else:
        target = policy / entry["file"]
        text = target.read_text(encoding="utf-8")
        for find, replace in ((entry["find"], entry["replace"]), (entry.get("also_find"), entry.get("also_replace"))):
            if find is None:
                continue
            if find not in text:
                raise ValueError(f"{entry['code']}: {find!r} not in {entry['file']}")
            text = text.replace(find, replace, 1)
        target.write_text(text, encoding="utf-8")
    if entry.get("at") is None:
        return target, None
    lines = target.read_text(encoding="utf-8").splitlines()
    hits = [i for i, text in enumerate(lines, 1) if entry["at"] in text]
    return target, hits[entry.get("occurrence", 1) - 1] + entry.get("line_offset", 0)


def diagnose(entry: dict, policy: Path) -> list:
    from policyc.compiler import compile_policy
    reporter = Reporter()
    try:
        c = compile_policy(policy, reporter)
        command = entry.get("command", "check")
        if command == "coverage":
            from policyc.check.coverage import coverage
            coverage(c, reporter)
        elif command == "test":
            from policyc.emit.bundle import build_bundle
            from policyc.runtime import Evaluator, jsonio
            from policyc.testing import check_cases
            check_cases(Evaluator(jsonio.loads(jsonio.dumps(build_bundle(c)))), reporter)
    except PolicyError:
        pass
    return reporter.items


def run(entry: dict) -> tuple[list, Path, int | None, Path]:
    """(diagnostics, file touched, expected line, the temporary policy directory)."""
    tmp = Path(tempfile.mkdtemp(prefix="policyc-corpus-"))
    policy = tmp / "shanxi"
    shutil.copytree(POLICY, policy)
    target, line = apply(entry, policy)
    return diagnose(entry, policy), target, line, policy


def example(entry: dict, diags: list, policy: Path) -> str | None:
    """The first diagnostic of the entry's code, rendered as a policy officer sees it."""
    wanted = [d for d in diags if d.code == entry["code"]]
    if not wanted:
        return None
    text = render_text(wanted[:1], policy).replace(str(policy), "policies/shanxi")
    return "\n".join(text.splitlines()[:-1]).rstrip()  # without the count line


def write_docs(examples: dict[str, str] | None = None) -> str:
    out = ["# 错误与警告代码（Diagnostics reference）", "",
           "policyc 报告的每一个代码：含义、例子和改法。代码稳定，可以在讨论、工单和 CI 中引用。",
           "例子由 `tests/corpus/broken.yaml` 中的错误样例生成（`python tools/corpus.py`），测试会检查本页是否最新。",
           "运行时（规则包加载和评估）的错误见页末。", ""]
    if examples is None:
        examples = {}
        for entry in entries():
            diags, target, line, policy = run(entry)
            text = example(entry, diags, policy)
            if text is not None:
                examples.setdefault(entry["code"], text)
            shutil.rmtree(policy.parent, ignore_errors=True)
    groups = [("E00", "文件、YAML 与结构"), ("E01", "规则语法"), ("E02", "参数"), ("E03", "名称"),
              ("E04", "类型、单位与决策表"), ("E05", "条款引用与编码情况"), ("E06", "示例案例"),
              ("E07", "参数之间的约束"), ("E08", "突发事件与资金安排"), ("E09", "地方设定"), ("W", "警告")]
    for prefix, title in groups:
        out += [f"## {title}", ""]
        for code, (severity, template, hint) in MESSAGES.items():
            if not code.startswith(prefix) or (prefix == "W") != code.startswith("W"):
                continue
            out.append(f"### {code}（{'错误' if severity == 'error' else '警告'}）")
            out.append("")
            out.append(f"消息：{template.replace('{', '‹').replace('}', '›')}")
            if hint:
                out.append(f"\n改法：{hint.replace('{', '‹').replace('}', '›')}")
            out.append("")
            if code in examples:
                out += ["```", examples[code], "```", ""]
            else:
                out += ["（没有样例：该情形难以从政策文件构造，见测试。）", ""]
    out += ["## 运行时错误（bundle 与请求）", "",
            "| 代码 | 含义 | 输出 |", "| --- | --- | --- |",
            "| R0101 | 请求不符合输入格式 | 每个问题的 JSON 路径和说明，如 `$.household.members[1].monthly_income: 金额应在 0 至 1000000000 元之间` |",
            "| R0102 | 地区无法识别或有多个同名地区 | 候选地区或最接近的名称 |",
            "| R0201 | 规则包无法信任：不是 JSON、格式版本不符或 sha256 不符 | 记录的与实际的 sha256 |",
            "| R0202 | 已配置可信公钥，但规则包没有签名文件（默认 BUNDLE.sig） | 规则包和签名文件的路径 |",
            "| R0203 | 签名无效：签名文件格式或类型不对、算法不是 ed25519、属于另一个规则包，或与内容不符（规则包或签名被改动） | 原因 |",
            "| R0204 | 签名者不在可信公钥之列，或要求验证签名却没有配置任何可信公钥 | 签名的 key_id 和可信公钥的 key_id |",
            "| R0205 | 规则包内容的 sha256 与固定值（`sha256=`、`--sha256`）不符 | 要求的与实际的 sha256 |",
            "| R0206 | 配置的可信公钥无法读取，或不是 ed25519 公钥（例如误用了私钥） | 公钥文件 |",
            "| R0301 | 无法评估：该日期没有某参数的有效取值，或决策表“唯一”命中时多行同时满足 | 参数名称和日期 |",
            "", "命令行的退出码：0 正常；1 政策文件有错误或案例失败；2 用法或输入有误（含上表的运行时错误），或无法读取、写入文件或标准输出（`policyc: 无法写入 标准输出：磁盘空间不足`）；130 被中断（Ctrl-C，`policyc: 已中断`）；141 标准输出的读取方已关闭（如 `| head`），其余输出被丢弃，不报错。`policyc verify` 验证失败时为 1，见 [签名](signing.md)；`policyc batch` 的行数对不上时为 3，见 [批量评估](batch.md)。", ""]
    return "\n".join(out)


if __name__ == "__main__":
    (ROOT / "docs" / "errors.md").write_text(write_docs(), encoding="utf-8")
    print("wrote docs/errors.md")
