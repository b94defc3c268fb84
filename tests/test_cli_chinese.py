"""The command line in Chinese, and output that is always safe: argparse's help and errors, errors from files
(missing, unreadable, not JSON or YAML) as one Chinese line with exit code 2, `--format json` that always parses,
and consoles that cannot show every character (GBK, ASCII)."""
import argparse
import ast
import errno
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, diagnose, member, request
from policyc import cli
from policyc.cli import build_parser, main
from policyc.cli_i18n import CATALOG, PLURALS, wrap

CJK = re.compile(r"[\u4e00-\u9fff]")
# what argparse writes in English, in help or in an error
ENGLISH = ("usage:", "options:", "positional arguments", "optional arguments", "show this help",
           "show program's version", "error:", "the following arguments are required", "invalid choice",
           "unrecognized arguments", "expected one argument", "not allowed with", "ambiguous option", "invalid int")


def run(*args, env=None, stdin=None):
    proc = subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], capture_output=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, input=stdin)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode("utf-8", "replace")
    return proc


def utf8(proc):
    return proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def commands(parser=None, path=()):
    """Every (sub)command's parser with its path, from the CLI's own parser: none can be left out."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, path + (name,))


def help_of(capsys, path):
    assert main([*path, "--help"]) == 0  # main returns argparse's exit code; it never raises SystemExit
    return capsys.readouterr().out


def flat(text):
    return re.sub(r"\s+", "", text)


# ── help ────────────────────────────────────────────────────────────────────────────────────────────────────────


def test_every_command_is_covered():
    names = {path[0] for path, _ in commands() if path}
    assert {"check", "build", "test", "eval", "explain", "params", "serve", "log", "diff", "batch"} <= names
    assert len(list(commands())) > 20


@pytest.mark.parametrize("path", [path for path, _ in commands()], ids=lambda p: " ".join(p) or "policyc")
def test_help_is_chinese_with_no_argparse_english(capsys, path):
    parser = dict(commands())[path]
    text = help_of(capsys, path)
    assert text.startswith("用法：policyc")
    for english in ENGLISH:
        assert english not in text, (english, text)
    if path:  # a subcommand's page opens with what the command list says of it
        assert parser.description and CJK.search(parser.description) and flat(parser.description) in flat(text)
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        # every option, argument and subcommand list has a Chinese help, and the page shows it
        assert action.help and CJK.search(action.help), (path, action.option_strings or action.dest)
        assert flat(action.help % dict(vars(action), prog=parser.prog)) in flat(text)
        for choice in getattr(action, "_choices_actions", []):  # the commands in the list
            assert choice.help and CJK.search(choice.help), (path, choice.dest)
            assert flat(choice.help) in flat(text)


def test_top_level_help_lists_the_commands_in_chinese():
    proc = run("--help")
    out, _ = utf8(proc)
    assert proc.returncode == 0
    assert "命令" in out and "选项" in out and "显示本帮助并退出" in out and "显示版本号并退出" in out
    for path, parser in commands():
        if len(path) == 1:
            assert re.search(rf"^\s+{path[0]}\b", out, re.M), path


def test_help_lines_fit_the_terminal_by_width():
    proc = run("check", "--help", env={"COLUMNS": "80"})
    out, _ = utf8(proc)
    wide = [line for line in out.splitlines()
            if sum(2 if "\u2e80" <= ch <= "\uffff" else 1 for ch in line) > 80 and " " in line.strip()]
    assert wide == []


def test_wrap_breaks_between_chinese_characters_never_inside_words():
    lines = wrap("地区代码或名称（覆盖请求中的 locality）如 policies/shanxi/parameters", 20)
    assert all(sum(2 if "\u2e80" <= ch <= "\uffff" else 1 for ch in line) <= 20 or " " not in line for line in lines)
    assert "policies/shanxi/parameters" in lines and "".join(lines).replace(" ", "").startswith("地区代码或名称")


def test_argparse_outside_policyc_keeps_its_own_words(capsys):
    help_of(capsys, ("check",))
    other = argparse.ArgumentParser(prog="other")
    assert "usage: other" in other.format_help() and "show this help message and exit" in other.format_help()


def test_catalog_has_every_message_of_this_pythons_argparse():
    source = open(argparse.__file__, encoding="utf-8").read()
    ids = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext"):
            texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if texts:
                ids.add((node.func.id, texts[0]))
    assert ids, "argparse no longer takes its messages from gettext"
    missing = [msgid for kind, msgid in ids if msgid not in (CATALOG if kind == "_" else PLURALS)]
    assert missing == []
    for msgid, text in CATALOG.items():  # the same % placeholders, so that formatting cannot fail
        assert sorted(re.findall(r"%\(\w+\)[rs]|%[rs]", msgid)) == sorted(re.findall(r"%\(\w+\)[rs]|%[rs]", text))


# ── usage errors ────────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("argv, words", [
    (["check", "--format", "yaml"], ["参数 --format", "无效的取值 'yaml'", "可选"]),
    (["check", "--expiring", "soon"], ["参数 --expiring", "'soon' 不是有效的整数"]),
    (["eval"], ["缺少必需的参数", "request"]),
    (["params", "--locality", "140100"], ["缺少必需的参数", "--date"]),
    (["check", "extra"], ["无法识别的参数", "extra"]),
    (["explain", "--depth"], ["参数 --depth", "需要一个取值"]),
    (["frobnicate"], ["无效的取值 'frobnicate'", "check"]),
    (["log"], ["缺少必需的参数", "子命令"]),
    (["impact", "--base", "x", "--population", "p.jsonl", "--synthetic", "3"], ["不能与参数 --population 一起使用"]),
    (["serve", "--bundle", "x", "--max", "3"], ["有歧义的选项", "--max-body"]),
])
def test_usage_errors_are_chinese_with_exit_2(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("用法：policyc") and "policyc: 用法错误：" in err
    for word in words:
        assert word in err, (word, err)
    for english in ENGLISH:
        assert english not in err, (english, err)


# ── --format json ───────────────────────────────────────────────────────────────────────────────────────────────


def test_check_json_is_an_empty_list_when_there_is_nothing_to_report(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_compile", lambda args, reporter: None)  # a policy set without a diagnostic
    assert main(["check", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert out == "[]\n" and json.loads(out) == [] and err == ""
    assert main(["check", "--format", "github"]) == 0 and capsys.readouterr().out == ""


def test_check_json_lists_exactly_the_policys_diagnostics(policy_copy):
    # the shipped set's copy: `[]` when it is clean, else exactly its diagnostics
    diags = diagnose(policy_copy)
    proc = run("check", "--policy", policy_copy, "--format", "json")
    out, _ = utf8(proc)
    expected = sorted((d.code, d.span.line if d.span else None, d.message) for d in diags)
    assert sorted((d["code"], d.get("line"), d["message"]) for d in json.loads(out)) == expected
    assert proc.returncode == (1 if any(d.severity == "error" for d in diags) else 0)
    if not diags:
        assert out == "[]\n"


def test_build_json_is_a_list_on_stdout(tmp_path, policy_copy):
    diags = diagnose(policy_copy)
    proc = subprocess.run([sys.executable, "-m", "policyc", "build", "--policy", str(policy_copy), "--out",
                           str(tmp_path / "gen"), "--format", "json"], capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    assert sorted(d["code"] for d in json.loads(proc.stdout.decode("utf-8"))) == sorted(d.code for d in diags)
    assert "构建完成" in proc.stderr.decode("utf-8")


@pytest.mark.parametrize("argv", [["coverage", "--format", "json"], ["localities", "--format", "json"]])
def test_other_json_outputs_parse(argv):
    proc = run(*argv)
    out, _ = utf8(proc)
    assert proc.returncode == 0 and isinstance(json.loads(out), list)


# ── files: one Chinese line, exit 2, no traceback ───────────────────────────────────────────────────────────────


@pytest.fixture
def household_file(tmp_path):
    path = tmp_path / "household.json"
    path.write_text(json.dumps(request([member("A", 1000)])), encoding="utf-8")
    return path


def test_missing_and_unreadable_files(tmp_path, household_file):
    cases = [
        (["eval", tmp_path / "missing.json"], f"无法读取 {tmp_path / 'missing.json'}：文件或目录不存在"),
        (["explain", tmp_path], "是目录"),
        (["test", "--bundle", tmp_path / "missing.bundle.json"], "文件或目录不存在"),
        (["params", "--bundle", tmp_path, "--locality", "140100", "--date", "2024-07-01"], "是目录"),
        (["eval", "--bundle", tmp_path / "missing.bundle.json", household_file], "文件或目录不存在"),
        (["fmt", tmp_path / "missing.policy"], "文件或目录不存在"),
        (["verify", "--key", tmp_path / "missing.pub", tmp_path / "b.json"], "文件或目录不存在"),
    ]
    for argv, words in cases:
        proc = run(*argv)
        _, err = utf8(proc)
        assert proc.returncode == 2, (argv, err)
        assert err.startswith("policyc") and words in err, (argv, err)
        assert "No such file" not in err and "Is a directory" not in err and "Errno" not in err


def test_an_unwritable_output_is_a_chinese_write_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "policyc", "build", "--policy", str(ROOT / "policies" / "shanxi"),
                           "--out", str(blocker / "generated")], capture_output=True, cwd=tmp_path)
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"policyc: 无法写入 {blocker / 'generated'}") and last.endswith("：路径中的某一级不是目录")


@pytest.mark.parametrize("error, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/srv/x.json"), "policyc: 无法读取 /srv/x.json：没有权限"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/srv"), "policyc: 无法读取 /srv：是目录，不是文件"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "a.json"), "policyc: 无法读取 a.json：文件或目录不存在"),
    (OSError(errno.ENOSPC, "No space left on device", "out.jsonl"), "policyc: 无法写入 out.jsonl：磁盘空间不足"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/x"), "policyc: 无法写入 /mnt/x：只读文件系统"),
    (OSError(errno.EBADMSG, "Bad message", "m"), f"policyc: 无法读取 m：{os.strerror(errno.EBADMSG)}"),
    (json.JSONDecodeError("Expecting value", "{\n x", 3), "policyc: 不是有效的 JSON：第 2 行第 2 列：此处应为一个 JSON 值"),
    ("a", "policyc: 文件不是 UTF-8 编码的文本（第 1 个字节起不是有效的 UTF-8）"),
])
def test_main_turns_file_errors_into_one_chinese_line(capsys, monkeypatch, error, words):
    if error == "a":
        error = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    def failing(args):
        raise error
    monkeypatch.setattr(cli, "cmd_check", failing)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == words


def test_a_failed_write_says_write(capsys, monkeypatch, tmp_path):
    def write_outputs(files):
        (tmp_path / "missing" / "x.txt").write_text("x", encoding="utf-8")

    def failing(args):
        write_outputs({})
    monkeypatch.setattr(cli, "cmd_check", failing)
    assert main(["check"]) == 2
    assert capsys.readouterr().err.strip() == f"policyc: 无法写入 {tmp_path / 'missing' / 'x.txt'}：文件或目录不存在"


def test_a_yaml_error_outside_the_policy_files_is_chinese(capsys, monkeypatch):
    yaml = pytest.importorskip("yaml")

    def failing(args):
        yaml.safe_load("a: [1, 2\nb: 3\n")
    monkeypatch.setattr(cli, "cmd_check", failing)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"policyc: YAML 语法错误：第 2 行第 \d+ 列：缺少逗号或右方括号 \]", err.strip()), err


def test_a_bad_request_file_is_chinese(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"locality": 140105,\n "date": }', encoding="utf-8")
    proc = run("eval", bad)
    _, err = utf8(proc)
    assert proc.returncode == 2 and f"{bad} 不是有效的 JSON：第 2 行第 10 列：此处应为一个 JSON 值" in err
    bad.write_bytes(b"\xff\xfe{}")
    proc = run("eval", bad)
    assert proc.returncode == 2 and "不是 UTF-8 编码的文本" in utf8(proc)[1]


def test_a_yaml_syntax_error_in_a_policy_file_is_chinese(policy_copy):
    path = policy_copy / "parameters" / "dibao.yaml"
    text = path.read_text(encoding="utf-8")
    name = re.search(r"^(\s+name: )(.+)$", text, re.M)
    path.write_text(text.replace(name.group(0), f"{name.group(1)}[{name.group(2)}", 1), encoding="utf-8")
    proc = run("check", "--policy", policy_copy)
    _, err = utf8(proc)
    assert proc.returncode == 1 and "错误[E0001]: YAML 语法错误：" in err and "did not find" not in err


# ── consoles that cannot show every character ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("encoding, passed", [("gbk", "√"), ("ascii", "+")])
def test_test_command_on_a_narrow_console(bundle_file, encoding, passed):
    proc = run("test", "-v", "--bundle", bundle_file, env={"PYTHONIOENCODING": encoding})
    out = proc.stdout.decode(encoding)  # decodes: nothing the console cannot show was written raw
    assert proc.returncode == 0, proc.stderr.decode(encoding, "replace")
    lines = out.splitlines()
    assert len(lines) > 1 and all(line.startswith(passed + " ") for line in lines[:-1])
    assert "✓" not in out and "✗" not in out


@pytest.fixture(scope="module")
def chinese_household(tmp_path_factory, evaluator):
    """A request whose locality is written by name, in Chinese (the name from the policy itself)."""
    name = evaluator.resolve_locality("140702", "locality")["full_name"]
    path = tmp_path_factory.mktemp("household") / "household.json"
    path.write_text(json.dumps(request([member("A", 1000)], locality=name), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wide_check():
    return run("check", "--format", "json")


@pytest.mark.parametrize("encoding", ["gbk", "ascii"])
def test_json_outputs_on_a_narrow_console_are_the_same_json(bundle_file, chinese_household, wide_check, encoding):
    narrow_env = {"PYTHONIOENCODING": encoding}
    wide = run("eval", "--bundle", bundle_file, chinese_household)
    narrow = run("eval", "--bundle", bundle_file, chinese_household, env=narrow_env)
    assert wide.returncode == narrow.returncode == 0
    decision = json.loads(narrow.stdout.decode(encoding))  # written in the console's encoding, and still JSON
    assert decision == json.loads(wide.stdout.decode("utf-8")) and CJK.search(json.dumps(decision, ensure_ascii=False))
    narrow = run("check", "--format", "json", env=narrow_env)
    assert json.loads(narrow.stdout.decode(encoding)) == json.loads(wide_check.stdout.decode("utf-8"))
    proc = run("--help", env=narrow_env)
    assert proc.returncode == 0 and proc.stdout.decode(encoding)
    proc = run("eval", "missing.json", env=narrow_env)
    assert proc.returncode == 2 and proc.stderr.decode(encoding)


def test_a_c_locale_without_utf8_mode(bundle_file, chinese_household):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "PYTHONUTF8", "LANG", "LC_CTYPE")}
    env.update(LC_ALL="C", PYTHONUTF8="0")
    for argv, code in [(["eval", "--bundle", bundle_file, chinese_household], 0), (["test", "-v", "--bundle",
                                                                                   bundle_file], 0),
                       (["check", "--format", "yaml"], 2)]:
        proc = subprocess.run([sys.executable, "-m", "policyc", *map(str, argv)], capture_output=True, cwd=ROOT,
                              env=env)
        assert proc.returncode == code and b"Traceback" not in proc.stderr, proc.stderr
        proc.stdout.decode("ascii")
        proc.stderr.decode("ascii")


def test_stdin_is_read_as_utf8_whatever_the_console(bundle_file, chinese_household):
    wide = run("eval", "--bundle", bundle_file, chinese_household)
    proc = run("eval", "--bundle", bundle_file, "-", stdin=chinese_household.read_bytes(),
               env={"PYTHONIOENCODING": "gbk"})
    assert proc.returncode == 0 and json.loads(proc.stdout.decode("gbk")) == json.loads(wide.stdout)
