"""`policyc build` replaces its output directory all at once (issue 15, builds): everything under --out, nothing
beside the cwd; orphans removed by build and reported by --check; a killed build's staging removed by the next;
two concurrent builds never mix; a build killed at a random moment leaves the old tree or the new one, never a mix.

Two full trees are built once by the real CLI, from the shipped policy set ("old") and from a copy with the urban
低保 standard raised ("new"). The other tests run the CLI's build command in a child process (`HARNESS`) with the
compilation replaced by reading one of those trees, so that only the writing — what can be interrupted — takes
time, and a kill can be aimed at it."""
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import POLICY, set_urban_standard, yuan
from policyc import cli
from policyc.emit import outputs as emit_outputs
from policyc.emit.outputs import leftovers, lock_path, output_lock, recover, write_tree

HARNESS = r'''
import os, signal, sys, time
signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal session, even when the tests run under nohup
from pathlib import Path
from policyc import cli
from policyc.emit import outputs as o

src, argv, flags = Path(sys.argv[1]), sys.argv[2:], set(os.environ.get("HARNESS_FLAGS", "").split(","))
cli._compile = lambda args, reporter: None
o.outputs = lambda c, out: {out / p.relative_to(src): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}
if "fallback" in flags:  # as on a system without renameat2(RENAME_EXCHANGE)
    o.exchange = lambda a, b: False
if "pause" in flags:  # stop with the new tree staged, so a signal can be aimed at that moment
    populate = o._populate
    def _populate(*args):
        populate(*args)
        print("staged", flush=True)
        time.sleep(60)
    o._populate = _populate
go = os.environ.get("HARNESS_GO")
print("ready", flush=True)
while go and not os.path.exists(go):
    time.sleep(0.001)
sys.exit(cli.main(argv))
'''


def tree(root: Path):
    """Every file under `root` by relative path, with its bytes (None: no such directory)."""
    if not root.is_dir():
        return None
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def which(snapshot, trees) -> str:
    """Whether `snapshot` is the old tree, the new one, or a mix (or missing)."""
    old, new = trees["old"], trees["new"]
    return "old" if snapshot == old else "new" if snapshot == new else "mixed"


def place(tmp_path: Path, src: Path) -> Path:
    """An output directory holding the tree at `src` (as an earlier build left it), beside nothing else."""
    out = tmp_path / "site" / "generated"
    shutil.copytree(src, out)
    return out


def beside(out: Path) -> set[str]:
    """What lies beside the output directory, apart from itself and its lock."""
    return {p.name for p in out.parent.iterdir()} - {out.name, lock_path(out).name}


def harness(tmp_path: Path, src: Path, *argv, flags=(), go=None, ready=True) -> subprocess.Popen:
    """`policyc <argv>` in a child process, its compilation replaced by reading the tree at `src`; returned once
    the child is ready to run it (`ready`), or at once. With `go`, it starts when that file exists."""
    script = tmp_path / "harness.py"
    script.write_text(HARNESS, encoding="utf-8")
    env = {**os.environ, "HARNESS_FLAGS": ",".join(flags), "HARNESS_GO": str(go or "")}
    proc = subprocess.Popen([sys.executable, str(script), str(src), *map(str, argv)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ready:
        wait_ready(proc)
    return proc


def wait_ready(proc):
    assert proc.stdout.readline().strip() == "ready", proc.communicate()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The old and the new tree, each built by `policyc build --out` from an empty cwd of its own, concurrently."""
    root = tmp_path_factory.mktemp("atomic")
    procs = {}
    for name in ("old", "new"):
        policy = root / name / "shanxi"
        shutil.copytree(POLICY, policy)
        if name == "new":
            old = set_urban_standard(policy, "0")
            set_urban_standard(policy, yuan(Decimal(old) + 20))
        (root / name / "cwd").mkdir()
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "policyc", "build", "--policy", policy, "--out", root / name / "site" / "generated"],
            cwd=root / name / "cwd", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    return root


@pytest.fixture(scope="module")
def trees(built):
    out = {name: tree(built / name / "site" / "generated") for name in ("old", "new")}
    assert out["old"] != out["new"] and out["old"].keys() == out["new"].keys()
    return out


def src(built, name) -> Path:
    return built / name / "site" / "generated"


def test_build_out_writes_nothing_outside_out(built, trees):
    for name in ("old", "new"):
        assert list((built / name / "cwd").iterdir()) == []  # no schemas/ in the cwd any more
        out = src(built, name)
        assert beside(out) == set()  # only the output directory and its lock
        assert {"schemas/household.schema.json", "schemas/decision.schema.json", "shanxi.bundle.json"} <= \
            trees[name].keys()
        assert not any(rel.endswith(".tmp") for rel in trees[name])


def test_orphans_are_removed_by_build_and_reported_by_check(tmp_path, built, trees):
    out = place(tmp_path, src(built, "old"))
    (out / "docs" / "handbooks" / "149999.md").write_text("已删除地区的手册", encoding="utf-8")
    (out / "docs" / ".shanxi.bundle.json.abc123.tmp").write_text("x", encoding="utf-8")
    (out / "junk").mkdir()
    (out / "junk" / "left.html").write_text("x", encoding="utf-8")
    check = harness(tmp_path, src(built, "old"), "build", "--check", "--out", out)
    _, err = check.communicate(timeout=60)
    assert check.returncode == 1, err
    assert "不是由规则源文件生成的" in err and "以下生成文件与规则源文件不一致" not in err
    for orphan in ("docs/handbooks/149999.md", "docs/.shanxi.bundle.json.abc123.tmp", "junk/left.html"):
        assert f"  {out / orphan}\n" in err
    assert not lock_path(out).exists()  # --check writes nothing, not even the lock file
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    build = harness(tmp_path, src(built, "old"), "build", "-v", "--out", out)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 0, err
    assert err.strip().splitlines()[-1] == f"构建完成：0 个生成文件已更新，{len(trees['old'])} 个未变，3 个多余文件已删除"
    assert f"已删除 {out / 'junk' / 'left.html'}" in err
    assert tree(out) == trees["old"] and not (out / "junk").exists() and beside(out) == set()
    # the files kept are the same files: same bytes, same mtime (hard links, not copies)
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items() if p.exists())
    check = harness(tmp_path, src(built, "old"), "build", "--check", "--out", out)
    _, err = check.communicate(timeout=60)
    assert check.returncode == 0 and f"生成文件是最新的（{len(trees['old'])} 个）" in err


def test_a_directory_that_is_not_an_output_is_refused(tmp_path, built):
    out = tmp_path / "site" / "mine"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("我的笔记", encoding="utf-8")
    proc = harness(tmp_path, src(built, "old"), "build", "--out", out)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "不是 policyc build 的输出" in err, err
    assert tree(out) == {"notes.txt": "我的笔记".encode("utf-8")} and beside(out) == set()


def test_only_changed_files_are_written_and_a_no_op_build_touches_nothing(tmp_path, built, trees):
    out = place(tmp_path, src(built, "old"))
    inodes = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    proc = harness(tmp_path, src(built, "new"), "build", "--out", out)
    _, err = proc.communicate(timeout=60)
    changed = {rel for rel in trees["new"] if trees["new"][rel] != trees["old"][rel]}
    assert proc.returncode == 0 and f"构建完成：{len(changed)} 个生成文件已更新" in err, err
    assert tree(out) == trees["new"] and beside(out) == set()
    for p, stamp in inodes.items():
        rel = p.relative_to(out).as_posix()
        assert (rel in changed) != ((p.stat().st_ino, p.stat().st_mtime_ns) == stamp), rel
    directory = out.stat().st_ino
    proc = harness(tmp_path, src(built, "new"), "build", "--out", out)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and f"构建完成：0 个生成文件已更新，{len(trees['new'])} 个未变" in err
    assert out.stat().st_ino == directory  # nothing to change: not swapped


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path, built, trees):
    out = place(tmp_path, src(built, "old"))
    staging = out.parent / ".generated.policyc-new-0123456789abcdef"
    shutil.copytree(src(built, "new"), staging / "half")
    old = out.parent / ".generated.policyc-old-fedcba9876543210"
    old.mkdir()
    (old / "x").write_text("x", encoding="utf-8")
    other = out.parent / ".generated.policyc-new-notours"  # not a name a build makes: left alone
    other.mkdir()
    assert set(leftovers(out)) == {staging, old}
    proc = harness(tmp_path, src(built, "new"), "build", "--out", out)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert tree(out) == trees["new"] and beside(out) == {other.name}


def test_recovery_after_a_kill_between_the_fallbacks_two_renames(tmp_path, built, trees):
    """Without RENAME_EXCHANGE the swap is two renames; killed between them, the output directory is missing and
    the old tree lies beside it: the next build renames it back first (all-old), then builds."""
    out = place(tmp_path, src(built, "old"))
    os.rename(out, out.parent / ".generated.policyc-old-0123456789abcdef")
    shutil.copytree(src(built, "new"), out.parent / ".generated.policyc-new-fedcba9876543210")
    with output_lock(out):
        recover(out)
    assert tree(out) == trees["old"] and beside(out) == set()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_while_staging_removes_the_staging_directory(tmp_path, built, trees, sig):
    out = place(tmp_path, src(built, "old"))
    proc = harness(tmp_path, src(built, "new"), "build", "--out", out, flags=["pause"])
    assert proc.stdout.readline().strip() == "staged"
    assert len(leftovers(out)) == 1  # the new tree, staged beside the output directory
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else 128 + sig), err
    assert tree(out) == trees["old"] and beside(out) == set()


def test_a_second_build_waits_for_the_lock(tmp_path, built, trees):
    out = place(tmp_path, src(built, "old"))
    with output_lock(out):
        proc = harness(tmp_path, src(built, "new"), "build", "--out", out)
        line = []
        reader = threading.Thread(target=lambda: line.append(proc.stderr.readline()), daemon=True)
        reader.start()
        reader.join(30)  # the message comes first (stderr is line-buffered), then the build blocks on the lock
        assert line == [f"另一个 policyc build 正在写入 {out}，等待它完成…\n"]
        time.sleep(0.3)
        assert proc.poll() is None and tree(out) == trees["old"]
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert tree(out) == trees["new"] and beside(out) == set()


def test_concurrent_builds_never_mix(tmp_path, built, trees):
    """Two builds of different trees, released at the same instant into the same directory, a few times: the result
    is always one whole tree, and both builds succeed."""
    out = place(tmp_path, src(built, "old"))
    for n in range(3):
        go = tmp_path / f"go{n}"
        first, second = ("new", "old") if n % 2 == 0 else ("old", "new")
        procs = [harness(tmp_path, src(built, name), "build", "--out", out, go=go, ready=False)
                 for name in (first, second)]
        for proc in procs:
            wait_ready(proc)
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert which(tree(out), trees) in ("old", "new") and beside(out) == set()  # which one: the lock's order


def test_concurrent_cli_builds_of_two_policy_versions(tmp_path, built, trees):
    """The real CLI, compiling two policy versions concurrently into the same --out from the same cwd."""
    out = tmp_path / "site" / "generated"
    (tmp_path / "cwd").mkdir()
    procs = [subprocess.Popen([sys.executable, "-m", "policyc", "build", "--policy", built / name / "shanxi",
                               "--out", out], cwd=tmp_path / "cwd", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in ("old", "new")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert which(tree(out), trees) in ("old", "new")
    assert beside(out) == set() and list((tmp_path / "cwd").iterdir()) == []


def files(trees, name, out: Path) -> dict:
    """A tree as `outputs()` gives it for the output directory `out`."""
    return {out / rel: data for rel, data in trees[name].items()}


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_a_build_killed_at_a_random_moment_leaves_all_old_or_all_new(tmp_path, built, trees, mode):
    out = place(tmp_path / "timing", src(built, "old"))
    start = time.monotonic()
    write_tree(files(trees, "new", out), out)
    window = time.monotonic() - start
    rng = random.Random(f"issue-15-{mode}")
    kills = 5 if mode == "exchange" else 3
    outcomes = []
    for n in range(kills):
        work = tmp_path / f"k{n}"
        work.mkdir()
        out = place(work, src(built, "old"))
        proc = harness(work, src(built, "new"), "build", "--out", out,
                       flags=["fallback"] if mode == "fallback" else [])
        if rng.random() < 0.75:  # most kills aimed at the write itself: from the moment the staging appears
            while not leftovers(out) and proc.poll() is None:
                time.sleep(0.0005)
        time.sleep(rng.uniform(0, window * 1.2))
        proc.kill()
        proc.communicate(timeout=60)
        now, left = tree(out), leftovers(out)
        if now is None:  # fallback only: killed between its two renames; the old tree lies beside the directory
            assert mode == "fallback" and any(".policyc-old-" in p.name for p in left)
            outcomes.append("between")
        else:
            outcomes.append(which(now, trees) + ("+leftover" if left else ""))
            assert which(now, trees) in ("old", "new"), (n, mode)
        # the next build: recovers (all old or all new), then writes the new tree, and leaves nothing behind
        with output_lock(out):
            recover(out)
        assert which(tree(out), trees) in ("old", "new")
        write_tree(files(trees, "new", out), out)
        assert tree(out) == trees["new"] and beside(out) == set()
        assert not list(work.rglob("*.tmp"))
    print(mode, "kill outcomes:", outcomes)


def test_an_in_process_build_restores_signal_handlers(tmp_path, built, trees, monkeypatch):
    """write_tree installs its SIGTERM/SIGHUP handlers only while it writes (cli.main runs in-process in tests)."""
    monkeypatch.setattr(cli, "_compile", lambda args, reporter: None)
    monkeypatch.setattr(emit_outputs, "outputs", lambda c, out: files(trees, "new", out))
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    out = place(tmp_path, src(built, "old"))
    assert cli.main(["build", "--out", str(out)]) == 0
    assert tree(out) == trees["new"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before
