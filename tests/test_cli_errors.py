"""The CLI's error policy (issue 15; README, "Exit codes"): whatever a user can do to a command — a closed or full
standard output, a reader that goes away, an unwritable output file, an ASCII console, Ctrl-C while it starts, a
number or date off every sane range — ends in a Chinese message and a documented exit code, never a traceback.
Every case runs `python -m policyc` in a subprocess, as a user would."""
import codecs
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

POLICY = ROOT / "policies" / "shanxi"
EXAMPLE = ROOT / "examples" / "household.json"
NOISE = ("Traceback", "Exception ignored", "Fatal Python error")


def policyc(*args, cwd=None, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            shell_redirect: str | None = None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m policyc ARGS`; `shell_redirect` (e.g. `>&-`) is applied by sh to the command."""
    argv = [sys.executable, "-m", "policyc", *map(str, args)]
    if shell_redirect:
        argv = ["sh", "-c", f'exec "$@" {shell_redirect}', "sh", *argv]
    proc = subprocess.run(argv, cwd=cwd or ROOT, env=env, stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout)
    proc.err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else ""
    proc.out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else ""
    for noise in NOISE:
        assert noise not in proc.err, proc.err
    return proc


@pytest.fixture
def request_file(tmp_path):
    path = tmp_path / "req.json"
    shutil.copy(EXAMPLE, path)
    return path


def population(tmp_path) -> Path:
    """A population file of one household, for `policyc batch`."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")), ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


def closed_pipe():
    """The write end of a pipe whose reader has gone already (`policyc … | head -c1`, once head has exited)."""
    read, write = os.pipe()
    os.close(read)
    return write


def unwritable_dir(tmp_path) -> Path:
    """A directory where creating a file fails with EACCES. chmod 555 stops everyone but root; tests may run as
    root (CI containers), and then sysfs, which refuses new files even to root, serves instead."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").write_text("x")
    except PermissionError:
        return ro
    (ro / "probe").unlink()
    ro.chmod(0o755)
    try:
        open("/sys/policyc-probe", "w").close()
    except PermissionError:
        return Path("/sys")
    except OSError:
        pass
    else:
        os.unlink("/sys/policyc-probe")
    pytest.skip("no directory here refuses to create a file")


# ── numbers and dates on the command line ──────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("value", [str(10 ** 30), "-5", "36501", "9" * 5000])
def test_expiring_outside_0_to_36500_days_is_a_usage_error(value):
    proc = policyc("check", "--expiring", value)  # 10**30 overflowed the calendar with a traceback; -5 passed
    assert proc.returncode == 2
    assert "policyc: 用法错误：参数 --expiring：应为 0 至 36500 之间的整数" in proc.err, proc.err


def test_expiring_at_its_bounds_is_accepted():
    assert policyc("check", "--expiring", "36500").returncode == 0
    assert policyc("check", "--expiring", "0").returncode == 0


@pytest.mark.parametrize("argv, flag, message", [
    (["eval", "--date", "9999-12-31", "req.json"], "--date", "日期应在 1900-01-01 至 2999-12-31 之间"),
    (["eval", "--date", "20240701", "req.json"], "--date", "应为日期 YYYY-MM-DD"),
    (["explain", "--date", "0001-01-01", "req.json"], "--date", "日期应在 1900-01-01 至 2999-12-31 之间"),
    (["params", "--locality", "140105", "--date", "1899-12-31"], "--date", "日期应在"),
    (["explain", "--depth", "0", "req.json"], "--depth", "应为 1 至 1000 之间的整数"),
    (["batch", "--input", "in.jsonl", "--output", "o.jsonl", "--chunk", "0"], "--chunk", "应为 1 至"),
    (["batch", "--input", "in.jsonl", "--output", "o.jsonl", "--chunk", str(10 ** 30)], "--chunk", "应为 1 至"),
    (["batch", "--input", "in.jsonl", "--output", "o.jsonl", "--threads", str(10 ** 30)], "--threads", "应为 1 至"),
    (["batch", "--input", "in.jsonl", "--output", "o.jsonl", "--date", "9999-12-31"], "--date", "日期应在"),
    (["synthetic", "--households", "0", "--date", "2024-07-01", "--out", "p.jsonl"], "--households", "应为 1 至"),
    (["synthetic", "--households", str(10 ** 20), "--date", "2024-07-01", "--out", "p.jsonl"], "--households",
     "应为 1 至"),
    (["synthetic", "--households", "5", "--date", "0001-01-01", "--out", "p.jsonl"], "--date", "日期应在"),
    (["impact", "--base", "x", "--synthetic", str(10 ** 30)], "--synthetic", "应为 1 至"),
    (["impact", "--base", "x", "--synthetic", "5", "--seed", "-1"], "--seed", "应为 0 至"),
    (["impact", "--base", "x", "--date", "2024-02-30"], "--date", "应为日期 YYYY-MM-DD"),
    (["serve", "--bundle", "x", "--port", "70000"], "--port", "应为 0 至 65535 之间的整数"),
    (["serve", "--bundle", "x", "--workers", "0"], "--workers", "应为 1 至"),
    (["serve", "--bundle", "x", "--max-body", str(10 ** 30)], "--max-body", "应为 1 至"),
    (["serve", "--bundle", "x", "--reload-interval", "nan"], "--reload-interval", "之间的数字"),
    (["serve", "--bundle", "x", "--reload-interval", "inf"], "--reload-interval", "之间的数字"),
])
def test_numeric_and_date_flags_are_checked_before_the_command_starts(tmp_path, argv, flag, message):
    proc = policyc(*argv, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"policyc: 用法错误：参数 {flag}：" in proc.err and message in proc.err, proc.err


def test_log_limit_and_times_off_the_calendar_are_usage_errors(tmp_path):
    from policyc.serve.decisionlog import open_log
    url = f"sqlite:///{tmp_path / 'log.db'}"
    open_log(url).close()
    proc = policyc("log", "query", "--decision-log", url, "--limit", str(10 ** 30))
    assert proc.returncode == 2 and "条数上限" in proc.err  # was "datatype mismatch" from SQLite
    for moment in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):  # an OverflowError traceback
        proc = policyc("log", "query", "--decision-log", url, "--since", moment)
        assert proc.returncode == 2 and "[L0005]" in proc.err and "超出日历范围" in proc.err, proc.err


def test_a_synthetic_population_before_the_first_values_is_a_usage_error(tmp_path, bundle_file):
    proc = policyc("synthetic", "--bundle", bundle_file, "--households", "3", "--date", "1900-01-01",
                   "--out", tmp_path / "p.jsonl")  # a KeyError traceback
    assert proc.returncode == 2 and "没有参数" in proc.err and "无法按低保标准生成收入" in proc.err, proc.err
    assert not (tmp_path / "p.jsonl").exists()


# ── standard output and standard error ─────────────────────────────────────────────────────────────────────────

def test_stdout_whose_reader_went_away_ends_quietly_with_141(bundle_file, request_file):
    pipe = closed_pipe()
    try:
        for argv in (["eval", "--bundle", bundle_file, request_file], ["test", "--bundle", bundle_file, "-v"],
                     ["--help"], ["check", "--format", "json"]):
            proc = policyc(*argv, stdout=pipe)
            assert proc.returncode == 141, (argv, proc.err)
            assert proc.err == "", proc.err  # nothing to say, and no "Exception ignored … BrokenPipeError"
    finally:
        os.close(pipe)


def test_a_reader_that_takes_one_byte_then_leaves(bundle_file, request_file):
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "explain", "--bundle", bundle_file, "--format", "json",
                             request_file], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    assert proc.wait(timeout=120) in (0, 141)  # 0 when the whole output fitted in the pipe before the reader left
    for noise in NOISE:
        assert noise not in err, err


def test_closed_stdout_is_an_error_naming_it(bundle_file, request_file):
    proc = policyc("eval", "--bundle", bundle_file, request_file, shell_redirect=">&-")  # was AttributeError
    assert proc.returncode == 2 and "policyc: 无法写入 标准输出：已关闭" in proc.err, proc.err
    proc = policyc("--help", shell_redirect=">&-")
    assert proc.returncode == 2 and "无法写入 标准输出" in proc.err
    proc = policyc("check", shell_redirect=">&-")  # writes nothing to standard output: not its business
    assert proc.returncode == 0 and "检查通过" in proc.err


def test_closed_stdin_is_an_error_naming_it(bundle_file):
    proc = policyc("eval", "--bundle", bundle_file, "-", shell_redirect="<&-")
    assert proc.returncode == 2 and "policyc: 无法读取 标准输入：已关闭" in proc.err, proc.err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stdout_on_a_full_disk_is_an_error_naming_it(bundle_file, request_file):
    with open("/dev/full", "wb") as full:
        for argv in (["eval", "--bundle", bundle_file, request_file], ["--help"]):
            proc = policyc(*argv, stdout=full)
            assert proc.returncode == 2, (argv, proc.err)
            assert "policyc: 无法写入 标准输出：磁盘空间不足" in proc.err, proc.err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stderr_is_best_effort_and_keeps_the_exit_code(bundle_file, request_file):
    with open("/dev/full", "wb") as full:
        proc = policyc("eval", "--bundle", bundle_file, request_file, stderr=full)
        assert proc.returncode == 0 and json.loads(proc.out)["programs"]  # the decision, complete
        proc = policyc("eval", "--bundle", bundle_file, "no-such.json", stderr=full)
        assert proc.returncode == 2  # the message is lost; the code is not
        proc = policyc("check", "--expiring", "-1", stderr=full)
        assert proc.returncode == 2
    proc = policyc("check", shell_redirect="2>&-", stderr=None)
    assert proc.returncode == 0
    pipe = closed_pipe()
    try:
        assert policyc("check", stderr=pipe).returncode == 0
    finally:
        os.close(pipe)


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}])
def test_an_ascii_console_gets_escapes_not_a_traceback(tmp_path, bundle_file, request_file, env):
    env = dict(os.environ, **env)
    proc = policyc("eval", "--bundle", bundle_file, request_file, env=env)
    assert proc.returncode == 0
    proc.stdout.decode("ascii")
    assert json.loads(proc.out)["locality"]["name"] == "太原市小店区"  # \uXXXX escapes: still the same JSON
    proc = policyc("check", "--expiring", "x", env=env)
    assert proc.returncode == 2
    assert "用法错误" in codecs.decode(proc.stderr.decode("ascii"), "unicode_escape")


# ── output files ───────────────────────────────────────────────────────────────────────────────────────────────

def test_output_files_in_an_unwritable_directory(tmp_path, bundle_file):
    ro = unwritable_dir(tmp_path)
    key = tmp_path / "key"
    assert policyc("keygen", key).returncode == 0
    try:
        for argv in (["keygen", ro / "policyc-test-key"],
                     ["sign", "--key", key, "--out", ro / "policyc-test.sig", bundle_file],
                     ["batch", "--bundle", bundle_file, "--input", population(tmp_path),
                      "--output", tmp_path / "o.jsonl", "--summary", ro / "policyc-test-summary.json"]):
            proc = policyc(*argv)
            assert proc.returncode == 2, (argv, proc.err)
            assert f"policyc: 无法写入 {ro}/" in proc.err and "没有权限" in proc.err, proc.err
    finally:
        if ro != Path("/sys"):
            ro.chmod(0o755)


def test_output_path_that_is_a_directory_or_under_a_file(tmp_path, bundle_file):
    key = tmp_path / "key"
    assert policyc("keygen", key).returncode == 0
    folder = tmp_path / "folder"
    folder.mkdir()
    proc = policyc("sign", "--key", key, "--out", folder, bundle_file)
    assert proc.returncode == 2 and f"无法写入 {folder}" in proc.err and "是目录" in proc.err, proc.err
    proc = policyc("keygen", folder)
    assert proc.returncode == 2 and "是目录" in proc.err, proc.err
    proc = policyc("sign", "--key", key, "--out", key / "x.sig", bundle_file)  # a path under a regular file
    assert proc.returncode == 2 and "无法写入" in proc.err and "不是目录" in proc.err, proc.err
    summary = policyc("batch", "--bundle", bundle_file, "--input", population(tmp_path),
                      "--output", tmp_path / "o.jsonl", "--summary", folder)
    assert summary.returncode == 2 and "无法写入" in summary.err and "是目录" in summary.err, summary.err


# ── Ctrl-C ─────────────────────────────────────────────────────────────────────────────────────────────────────

def test_ctrl_c_during_start_up_exits_130_without_a_traceback():
    """SIGINT at several moments from the entry module's import on (imports of the CLI, argparse, the compiler,
    then the check itself): `policyc: 已中断` and exit 130 every time, or, for a late one, the check's own end.
    `-X importtime` says when policyc.entry is imported; before it the interpreter itself is starting, which is
    Python's business (README, "Exit codes")."""
    delays = [0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5]
    started = time.monotonic()
    interrupted = 0
    for delay in delays:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "policyc", "check", "--policy", POLICY],
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = []
        for line in proc.stderr:
            before.append(line)
            if line.rstrip().endswith(b"policyc.entry"):
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = (b"".join(before) + proc.stderr.read()).decode("utf-8", "replace")
        code = proc.wait(timeout=60)
        for noise in NOISE + ("KeyboardInterrupt",):
            assert noise not in err, (delay, err[-3000:])
        assert code in (130, 0), (delay, code, err[-2000:])
        if code == 130:
            interrupted += 1
            assert "policyc: 已中断" in err
    assert interrupted >= len(delays) - 2
    assert time.monotonic() - started < 60


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="no process groups")
def test_ctrl_c_at_the_terminal_stops_impact_and_its_worker_processes_quietly(bundle_file):
    """A terminal's Ctrl-C goes to the whole process group: `impact --jobs 2`'s forked sides got it too, and each
    printed a KeyboardInterrupt traceback from multiprocessing."""
    interrupted = 0
    for delay in (0.5, 1.0, 1.5):
        proc = subprocess.Popen([sys.executable, "-m", "policyc", "impact", "--base", bundle_file, "--head", bundle_file,
                                 "--synthetic", "3000", "--jobs", "2", "--date", "2024-07-01"], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:  # done already
            pass
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=120)
        for noise in NOISE + ("KeyboardInterrupt",):
            assert noise not in err, (delay, err[-3000:])
        assert code in (130, 0), (delay, code, err[-2000:])
        interrupted += code == 130
    assert interrupted


def test_ctrl_c_during_a_duckdb_query_is_an_interruption(tmp_path, bundle_file):
    """DuckDB turns SIGINT into `RuntimeError: Query interrupted` of its own: still 130, and no output left."""
    household = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(dict(household, id=f"h{i}"), ensure_ascii=False) + "\n"
                              for i in range(8000)), encoding="utf-8")
    codes = []
    for delay in (1.5, 2.5):
        proc = subprocess.Popen([sys.executable, "-m", "policyc", "batch", "--bundle", bundle_file, "--input", source,
                                 "--output", tmp_path / "out.jsonl"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read().decode("utf-8", "replace")
        codes.append(proc.wait(timeout=120))
        for noise in NOISE:
            assert noise not in err, (delay, err[-3000:])
        if codes[-1] == 130:
            assert "policyc: 已中断" in err
            assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "shanxi.bundle.json"]
    assert set(codes) <= {0, 130} and 130 in codes, codes


def test_the_console_script_enters_through_the_interrupt_policy():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^policyc = "policyc\.entry:main"', pyproject, re.M)
    assert "from .entry import main" in (ROOT / "policyc" / "__main__.py").read_text(encoding="utf-8")


def test_help_lists_the_exit_codes():
    proc = policyc("--help")
    assert proc.returncode == 0
    text = re.sub(r"\s+", "", proc.out)  # the epilog is wrapped to the terminal's width
    for code in ("0成功", "1政策有错误", "2用法或输入有误", "130被中断", "141标准输出的读取方已关闭"):
        assert code in text, proc.out


def test_an_output_path_that_is_a_device_or_pipe_is_never_replaced(tmp_path):
    """Atomic writers rename a finished file into place; over a device or a pipe (`sign --out /dev/full` as root)
    that would replace the node itself with a file. They refuse (exit 2, the path named) and the node stays."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.run([sys.executable, "-m", "policyc", "keygen", "--force", str(fifo)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "不是普通文件" in proc.stderr and str(fifo) in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not list(tmp_path.glob(".pipe*"))


def test_the_atomic_mover_replaces_files_and_links_but_not_nodes(tmp_path):
    from policyc.runtime import atomic
    from policyc.runtime.errtext import NotRegularFile
    for name, make in (("file", lambda p: p.write_text("old")), ("link", lambda p: p.symlink_to(tmp_path / "x"))):
        target, tmp = tmp_path / name, tmp_path / f".{name}.tmp"
        make(target)
        tmp.write_text("new")
        atomic.replace(tmp, target)
        assert not target.is_symlink() and target.read_text() == "new"
    fifo, tmp = tmp_path / "fifo", tmp_path / ".fifo.tmp"
    os.mkfifo(fifo)
    tmp.write_text("new")
    with pytest.raises(NotRegularFile):
        atomic.replace(tmp, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not tmp.exists()
    (tmp_path / "dir").mkdir()
    tmp.write_text("new")
    with pytest.raises(IsADirectoryError):
        atomic.replace(tmp, tmp_path / "dir")
