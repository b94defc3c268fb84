"""One version's side of an impact run: loads (compiles) the version, then evaluates batches of requests into
compact outcomes (impact_outcomes.py). `ProcessSide` does this in a process of its own, so both versions compile
and evaluate at the same time on two cores; `LocalSide` does it in this process (tests, --jobs 1)."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import signal
import time
import traceback

from .impact_outcomes import outcome, program_specs
from .population import PopulationError
from .synthetic import SyntheticError
from .versions import VersionError


class _Worker:
    """The version, its evaluator and the population, wherever they live."""

    def __init__(self, loader):
        t = time.process_time()
        self.version = loader()
        self.ev = self.version.evaluator()
        self.specs = program_specs(self.ev.module)
        self.population = None
        self.cpu = {"load": time.process_time() - t}  # CPU seconds per phase, in this process

    def run(self, method: str, *args):
        t = time.process_time()
        try:
            return getattr(self, method)(*args)
        finally:
            self.cpu[method] = self.cpu.get(method, 0) + time.process_time() - t

    def stats(self) -> dict:
        return dict(self.cpu)

    def params(self, codes, day: str, pids) -> dict:
        """The values in force of `pids` at each locality on `day` (None where there is none)."""
        d = dt.date.fromisoformat(day)
        out = {}
        for code in codes:
            found = self.ev.params_at(code, d)[0]
            out[code] = {pid: found.get(pid) for pid in pids}
        return out

    def load_population(self, source: tuple) -> tuple[int, int | None, str]:
        """("file", path), ("given", Population) or ("synthetic", n, seed, day, within, anchors, jurisdictions,
        (base IR, head IR)): read or generated here, in each side's own process (no households cross between
        processes), from the same inputs on both sides, so both get the same households."""
        from .. import ir
        from .population import read_population
        from .synthetic import synthetic_population
        if source[0] == "file":
            self.population = read_population(source[1])
        elif source[0] == "given":
            self.population = source[1]
        else:
            _, n, seed, day, within, anchors, jurisdictions, irs = source
            modules = [ir.Module.from_json(x) for x in irs]
            self.population = synthetic_population(n, seed, jurisdictions=jurisdictions, modules=modules,
                                                   anchors=anchors.__getitem__, date=day, within=within)
        return len(self.population), self.population.seed, self.population.source

    def requests(self, indices) -> list[tuple[str, dict]]:
        return [(self.population.households[i].where, self.population.households[i].request) for i in indices]

    def evaluate_population(self, programs, date) -> list:
        from .population import row_problems
        out = self.evaluate([h.request for h in self.population.households], programs, date)
        for i, o in enumerate(out):
            if o[0] == "error":
                out[i] = ("error", row_problems(self.population.households[i].where, o[1]))
        return out

    def evaluate(self, requests, programs, date) -> list:
        """Per request: ("ok", locality code, {program: outcome}, members, date) or ("error", [(path, message)]).
        `programs` None is every program; programs this version does not have are left out."""
        from ..runtime.errors import RuntimeFault
        if programs is not None:
            programs = tuple(p for p in programs if p in self.specs)
            if programs and len(programs) == len(self.specs):
                programs = None  # every program: the evaluator's own compiled function, no variant to build
        out = []
        for request in requests:
            try:
                if programs == ():
                    self.ev.convert(request)  # nothing to evaluate: still a valid request?
                    code = self.ev.resolve_locality(request.get("locality"))["code"]
                    out.append(("ok", code, {}, _size(request), date or request.get("date")))
                    continue
                decision = self.ev.evaluate(request, date=date, programs=programs)
            except RuntimeFault as err:
                out.append(("error", getattr(err, "problems", None) or [("$", str(err))]))
                continue
            results, refs = decision["programs"], {}
            for r in decision["referrals"]:
                refs.setdefault(r["program"], []).append(r)
            out.append(("ok", decision["locality"]["code"],
                        {p: outcome(self.specs[p], results[p], refs.get(p, ())) for p in results if p in self.specs},
                        _size(request), decision["date"]))
        return out


def _size(request: dict) -> int:
    members = (request.get("household") or {}).get("members")
    return len(members) if isinstance(members, list) else 0


def _describe(err: VersionError) -> tuple[str, str, str]:
    """(message, diagnostics as text, kind): "policy" for a version that does not compile, "usage" for a spec
    that names no version."""
    from ..diagnostics import render_text
    diags = err.reporter.sorted() if err.reporter is not None else []
    return str(err), render_text(diags) if diags else "", "policy" if err.reporter is not None else "usage"


class LocalSide:
    def __init__(self, loader):
        try:
            self._w = _Worker(loader)
        except VersionError as err:
            raise SideError(*_describe(err)) from None
        self._pending = []

    @property
    def bundle(self) -> dict:
        return self._w.version.bundle

    @property
    def label(self) -> str:
        return self._w.version.label

    @property
    def population(self):
        return self._w.population

    def call(self, method: str, *args):
        return self._w.run(method, *args)

    def send(self, method: str, *args) -> None:
        try:
            self._pending.append(("ok", self.call(method, *args)))
        except (PopulationError, SyntheticError) as err:
            self._pending.append(("raise", err))

    def receive(self):
        kind, value = self._pending.pop(0)
        if kind == "raise":
            raise value
        return value

    def close(self, wait: bool = True):
        pass


class SideError(Exception):
    """A version that could not be loaded; `diagnostics` is the compiler's report, as text."""

    def __init__(self, message: str, diagnostics: str = "", kind: str = "crash"):
        super().__init__(message)
        self.diagnostics = diagnostics
        self.kind = kind  # "policy" (exit 1), "usage" (exit 2) or "crash" (an unexpected error, with its traceback)


def _serve(conn, loader) -> None:
    # Ctrl-C reaches the whole process group: it is the parent's to handle (it stops its sides), not a traceback
    # from each side's multiprocessing
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        w = _Worker(loader)
    except VersionError as err:
        conn.send(("error", *_describe(err)))
        return
    except BaseException as err:  # noqa: BLE001 — anything else is reported to the parent, not lost
        conn.send(("error", f"{type(err).__name__}: {err}", traceback.format_exc()))
        return
    conn.send(("ok", w.version.label, w.version.bundle))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        try:
            answer = ("ok", w.run(*message))
        except PopulationError as err:
            answer = ("population", err.problems, err.total)
        except SyntheticError as err:
            answer = ("synthetic", str(err))
        except BaseException as err:  # noqa: BLE001
            answer = ("error", f"{type(err).__name__}: {err}", traceback.format_exc())
        conn.send(answer)


class ProcessSide:
    """A forked process holding one version: started at once (it compiles while the other side does), its
    bundle available after `ready()`."""

    def __init__(self, loader):
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, loader), daemon=True)
        self._proc.start()
        child.close()
        self._ready = None

    def ready(self) -> "ProcessSide":
        if self._ready is None:
            try:
                answer = self._conn.recv()
            except EOFError:
                raise SideError("评估进程意外退出") from None
            if answer[0] == "error":
                self.close()
                raise SideError(*answer[1:])
            self._ready = answer
        return self

    @property
    def bundle(self) -> dict:
        return self.ready()._ready[2]

    @property
    def label(self) -> str:
        return self.ready()._ready[1]

    def call(self, method: str, *args):
        self.send(method, *args)
        return self.receive()

    def send(self, method: str, *args) -> None:
        self.ready()
        self._conn.send((method, *args))

    def receive(self):
        try:
            answer = self._conn.recv()
        except EOFError:
            raise SideError("评估进程意外退出") from None
        if answer[0] == "population":
            raise PopulationError(answer[1], answer[2])
        if answer[0] == "synthetic":
            raise SyntheticError(answer[1])
        if answer[0] == "error":
            raise SideError(answer[1], answer[2])
        return answer[1]

    def close(self, wait: bool = True):
        """Stop the process: asked to, once it has finished what it is doing (up to 5 seconds), or, `wait` False
        (the run failed or was interrupted, and its work is not wanted), at once."""
        if wait:
            try:
                self._conn.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
            self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
