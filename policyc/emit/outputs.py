"""What `policyc build` writes, written atomically: all files or none, and `--check` to find stale ones."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..compiler import Compilation
from ..runtime import jsonio
from ..runtime.evaluator import Evaluator
from .bundle import build_bundle


def outputs(c: Compilation, out_dir: Path, schema_dir: Path = Path("schemas")) -> dict[Path, bytes]:
    bundle = build_bundle(c)
    pid = bundle["manifest"]["id"]
    evaluator = Evaluator(jsonio.loads(jsonio.dumps(bundle, indent=None)))
    header = (f"# {pid} {bundle['manifest']['version']}: the evaluator the runtime compiles from "
              f"{pid}.bundle.json (sha256 {bundle['manifest']['sha256']}).\n"
              "# Written for review only; the runtime generates it itself at load time.\n")

    def text(s: str) -> bytes:
        return (s if s.endswith("\n") else s + "\n").encode("utf-8")

    from .documents import site_files
    return {
        **site_files(c, out_dir / "docs"),
        out_dir / f"{pid}.bundle.json": text(jsonio.dumps(bundle, indent=1)),
        out_dir / f"{pid}.evaluator.py": text(header + evaluator.rules_source + "\n" + evaluator.inputs_source),
        schema_dir / "household.schema.json": text(jsonio.dumps(bundle["schemas"]["request"])),
        schema_dir / "decision.schema.json": text(jsonio.dumps(bundle["schemas"]["decision"])),
    }


def stale_outputs(files: dict[Path, bytes]) -> list[Path]:
    stale = []
    for path, content in files.items():
        try:
            same = path.read_bytes() == content
        except OSError:
            same = False
        if not same:
            stale.append(path)
    return stale


def write_outputs(files: dict[Path, bytes]) -> None:
    """Write every file to a temporary neighbour first, then move them all into place."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
            staged.append((tmp, path))
    except BaseException:
        for tmp, _ in staged:
            os.unlink(tmp)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
