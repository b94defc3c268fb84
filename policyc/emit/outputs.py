"""What `policyc build` writes, and how: the whole output tree at once, never a mix of two builds.

`outputs` is every file a build produces, all under the output directory (`--out`, default `generated/`): the
bundle, the evaluator source for review, the request and decision JSON Schemas (`schemas/`) and the site
(`docs/`). `write_tree` replaces the output directory by the new tree in one step:

1. it takes the build lock, `.<out>.policyc.lock` beside the output directory (`fcntl.flock`; `msvcrt.locking` on
   Windows), and waits, saying so in Chinese, while another build holds it — so two builds never mix, the later
   one wins; `build --check` takes it shared, so it never reads a tree half swapped;
2. it undoes what a killed build left beside the output directory (see 5);
3. in a fresh sibling directory `.<out>.policyc-new-<random>` it writes the files that differ (each fsynced) and
   hard-links the unchanged ones from the current tree (the same inode: byte-identical, mtime kept; copied with
   their mtime where the file system has no hard links); files of the current tree that the build does not produce
   (a removed locality's handbooks, a stray `*.tmp`) are simply not carried over — they are orphans, which
   `build --check` reports;
4. it fsyncs the new tree's directories and swaps it with the output directory in one `renameat2(RENAME_EXCHANGE)`
   (Linux ≥ 3.15 with glibc ≥ 2.28, on ext4, xfs, btrfs, tmpfs …), then fsyncs the parent and removes the old tree.
   Where the system cannot exchange two directories (another OS, a file system without RENAME_EXCHANGE) it falls
   back to two renames, output → `.<out>.policyc-old-<random>` and new → output, with SIGINT, SIGTERM and SIGHUP
   blocked in between: a reader may find no output directory for that instant, never a mixed one;
5. whatever happens, the staging directory is removed: on an error, on Ctrl-C (KeyboardInterrupt), and on SIGTERM
   or SIGHUP, which raise SystemExit(128 + signal) while a build writes. Only SIGKILL (or a power cut) can leave a
   `.<out>.policyc-new-*` or `-old-*` directory behind; the next build, under the lock, removes it — and if the
   fallback's two renames were cut between them, first renames the old tree back (so the output is all-old).

A build that finds nothing to change and no orphan does not touch the directory at all. The output directory
belongs to the build: every file in it that the build does not produce is removed, so `write_tree` refuses an
existing directory with files it would remove unless it holds a `*.bundle.json` at its top (an earlier build's
output), rather than empty someone's directory given by mistake as `--out`. The swap replaces the directory itself:
its mode is kept, other metadata (owner, ACLs) is that of a new directory.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..runtime import atomic

if TYPE_CHECKING:  # the writers below serve fmt and changelog too, which need no compiler
    from ..compiler import Compilation

SCHEMAS = "schemas"  # the request and decision JSON Schemas, inside the output directory


def outputs(c: Compilation, out_dir: Path) -> dict[Path, bytes]:
    """Every file the build produces, by path; all of them under `out_dir`."""
    from ..runtime import jsonio
    from ..runtime.evaluator import Evaluator
    from .bundle import build_bundle
    from .documents import site_files
    bundle = build_bundle(c)
    pid = bundle["manifest"]["id"]
    evaluator = Evaluator(jsonio.loads(jsonio.dumps(bundle, indent=None)))
    header = (f"# {pid} {bundle['manifest']['version']}: the evaluator the runtime compiles from "
              f"{pid}.bundle.json (sha256 {bundle['manifest']['sha256']}).\n"
              "# Written for review only; the runtime generates it itself at load time.\n")

    def text(s: str) -> bytes:
        return (s if s.endswith("\n") else s + "\n").encode("utf-8")

    return {
        **site_files(c, out_dir / "docs"),
        out_dir / f"{pid}.bundle.json": text(jsonio.dumps(bundle, indent=1)),
        out_dir / f"{pid}.evaluator.py": text(header + evaluator.rules_source + "\n" + evaluator.inputs_source),
        out_dir / SCHEMAS / "household.schema.json": text(jsonio.dumps(bundle["schemas"]["request"])),
        out_dir / SCHEMAS / "decision.schema.json": text(jsonio.dumps(bundle["schemas"]["decision"])),
    }


def stale_outputs(files: dict[Path, bytes]) -> list[Path]:
    """The files whose content on disk differs from what the build produces (or that are missing)."""
    stale = []
    for path, content in files.items():
        try:
            same = path.read_bytes() == content
        except OSError:
            same = False
        if not same:
            stale.append(path)
    return stale


def orphan_outputs(files: dict[Path, bytes], out_dir: Path) -> list[Path]:
    """The entries under `out_dir` the build does not produce (files, and links, which it never makes), sorted."""
    wanted = set(files)
    found = []
    for dirpath, dirnames, filenames in os.walk(out_dir):
        here = Path(dirpath)
        linked = [d for d in dirnames if (here / d).is_symlink()]  # os.walk does not follow them: not ours
        dirnames[:] = [d for d in dirnames if d not in linked]
        found += [here / name for name in filenames + linked if here / name not in wanted]
    return sorted(found)


class NotAnOutputDirectory(Exception):
    """`--out` names an existing directory that no build wrote, and the build would remove files from it."""

    def __init__(self, out_dir: Path, orphans: list[Path]):
        super().__init__(str(out_dir))
        self.out_dir, self.orphans = out_dir, orphans


def write_tree(files: dict[Path, bytes], out_dir: Path, waiting=None) -> tuple[list[Path], list[Path]]:
    """Make `out_dir` hold exactly `files`, all old or all new at every moment (see the module's docstring).
    Returns (the files written because they differed, the orphans removed). `waiting()` is called once if another
    build holds the lock. An OSError leaves the output directory all old (all new if it comes after the swap).
    SIGTERM and SIGHUP while it runs raise SystemExit(128 + signal), once the staging directory is removed."""
    out_dir = Path(out_dir)
    for path in files:
        path.relative_to(out_dir)  # ValueError: a file outside the output directory is a bug in outputs()
    real = Path(os.path.realpath(out_dir))  # a symlinked output directory: swap its target, keep the link
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a directory of the path should be
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out_dir)) from None
    with _terminate_as_exit(), output_lock(real, waiting=waiting):
        recover(real)
        if os.path.lexists(real) and not real.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out_dir))
        changed = stale_outputs(files)
        removed = orphan_outputs(files, out_dir) if real.is_dir() else []
        if removed and not any(real.glob("*.bundle.json")):
            raise NotAnOutputDirectory(out_dir, removed)
        if not changed and not removed:
            return [], []
        stage = _sibling(real, "new")
        os.mkdir(stage)
        try:
            if real.is_dir():
                os.chmod(stage, real.stat().st_mode & 0o7777)
            _populate(stage, {path: path.relative_to(out_dir) for path in files}, files, set(changed), real)
            _swap(stage, real)
        finally:
            with _signals_blocked():  # a second Ctrl-C does not cut the clean-up short
                recover(real)
        return changed, removed


def write_outputs(files: dict[Path, bytes]) -> None:
    """Write a few independent files (`policyc fmt`, `policyc changelog`): each to a temporary neighbour first,
    then all moved into place; the temporary files are removed on any exit. (`policyc build` uses write_tree.)"""
    staged: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
        while staged:
            tmp, path = staged[0]
            atomic.replace(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- the lock ---------------------------------------------------------------------------------------------------

def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.policyc.lock"


@contextmanager
def output_lock(out_dir: Path, shared: bool = False, waiting=None):
    """Hold the build lock of `out_dir` (exclusive to write, shared to read); released when the process ends,
    however it ends. Shared (`build --check`), it creates nothing: where no build has made the lock file yet, or
    it cannot be opened, there is nothing to wait for."""
    path = lock_path(Path(os.path.realpath(out_dir)))
    try:
        fd = os.open(path, os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if not shared:
            raise
        yield
        return
    try:
        if not _lock(fd, shared, block=False):
            if waiting is not None:
                waiting()
            _lock(fd, shared, block=True)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int, shared: bool, block: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: an exclusive lock on the file's first byte, polled
        import msvcrt
        import time
        while True:
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not block:
                    return False
                time.sleep(0.1)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if block else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False


# -- staging and swapping ---------------------------------------------------------------------------------------

_LEFTOVER = re.compile(r"\.policyc-(new|old)-[0-9a-f]{16}")


def _sibling(out_dir: Path, kind: str) -> Path:
    return out_dir.parent / f".{out_dir.name}.policyc-{kind}-{secrets.token_hex(8)}"


def leftovers(out_dir: Path) -> list[Path]:
    """The staging (`new`) and old (`old`) directories builds of `out_dir` left beside it."""
    prefix = f".{out_dir.name}"
    try:
        names = os.listdir(out_dir.parent)
    except FileNotFoundError:
        return []
    return sorted(out_dir.parent / n for n in names
                  if n.startswith(prefix) and _LEFTOVER.fullmatch(n, len(prefix)))


def recover(out_dir: Path) -> None:
    """Under the lock: if the fallback's two renames were cut between them (no output directory, an old one
    beside it), rename the old tree back; then remove every staging and old directory left beside `out_dir`."""
    found = leftovers(out_dir)
    old = [p for p in found if ".policyc-old-" in p.name]
    if old and not os.path.lexists(out_dir):
        os.rename(max(old, key=lambda p: p.stat().st_mtime_ns), out_dir)
        found = leftovers(out_dir)
    for path in found:
        shutil.rmtree(path, ignore_errors=True)


def _populate(stage: Path, rel: dict[Path, Path], files: dict[Path, bytes], changed: set[Path], current: Path):
    """The whole new tree in `stage`: changed files written and fsynced, unchanged ones linked (or copied)."""
    link = True
    made: set[Path] = set()
    for path, content in files.items():
        dest = stage / rel[path]
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        if path not in changed:
            if link:
                try:
                    os.link(current / rel[path], dest)
                    continue
                except OSError:  # no hard links on this file system (or across it): copy, keeping the mtime
                    link = False
            shutil.copy2(current / rel[path], dest)
            continue
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as err:  # a full disk: name the output file (a failed write() names none)
            if err.filename is None:
                err.filename = str(path)
            raise
        os.chmod(dest, 0o644)
    for directory in sorted(made | {stage}, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(directory)


def _swap(stage: Path, out_dir: Path) -> None:
    """Put the tree in `stage` at `out_dir` in one step; afterwards `stage` holds the old tree (if there was one)."""
    if not os.path.lexists(out_dir):
        os.rename(stage, out_dir)
    elif not exchange(stage, out_dir):
        old = _sibling(out_dir, "old")
        with _signals_blocked():
            os.rename(out_dir, old)
            try:
                os.rename(stage, out_dir)
            except BaseException:
                os.rename(old, out_dir)
                raise
    _fsync_dir(out_dir.parent)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


@lru_cache(maxsize=1)
def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc ≥ 2.28
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 with RENAME_EXCHANGE). False, with nothing changed,
    where the system or the file system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    import ctypes
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync there; NTFS journals the renames
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- signals ----------------------------------------------------------------------------------------------------

_TERMINATING = ("SIGTERM", "SIGHUP")


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def _terminate_as_exit():
    """While a build writes, SIGTERM and SIGHUP raise SystemExit(128 + signal) (as SIGINT raises
    KeyboardInterrupt), so the `finally` clauses remove what it staged. A signal ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in _TERMINATING:
        sig = getattr(signal, name, None)
        if sig is None or signal.getsignal(sig) is signal.SIG_IGN:
            continue
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, _exit_on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def _signals_blocked():
    """SIGINT, SIGTERM and SIGHUP held back (delivered on leaving) where the system can block signals."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = {signal.SIGINT} | {getattr(signal, name) for name in _TERMINATING if hasattr(signal, name)}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
