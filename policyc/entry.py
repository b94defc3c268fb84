"""The `policyc` command's entry point: the console script (pyproject.toml, [project.scripts]) and `python -m
policyc` call `main` here, not policyc.cli.

It exists for Ctrl-C during start-up. Importing the CLI, and the compiler after it, takes a good part of a second;
an interrupt then used to end in a KeyboardInterrupt traceback from whatever module was being imported. This module
imports only what the interpreter has loaded already (os, signal, sys) and, as it is imported, makes SIGINT end the
process at once with `policyc: 已中断` and exit code 130; `main` then turns SIGINT into KeyboardInterrupt for the
command (so its `finally` clauses clean up, and policyc.cli.main reports it, with the same message and code). A
second Ctrl-C while that clean-up runs, or one after the command has finished, ends the process at once. A SIGINT
that was ignored when policyc started (`nohup`, a background job of a script) stays ignored.

Two corners of CPython are covered as well. An interrupt that arrives while Python runs a weakref callback or a
`__del__` is printed as "Exception ignored in …" and lost; here it is delivered again, to the command. And a
KeyboardInterrupt that passed through `exec()` of a string (dataclasses and namedtuple make their methods so, as
modules are imported) makes CPython end the process by SIGINT at exit even though it was handled; an interrupted
command therefore exits here, with 130, after the exit handlers have run.

Only the interpreter's own start-up (before this module is imported, a few tens of milliseconds) is left to
Python, whose answer to an interrupt there is its own."""
import os
import signal
import sys

EXIT_INTERRUPTED = 130  # as policyc.cli.EXIT_INTERRUPTED (not imported from there: that is what takes the time)
interrupted = False  # a SIGINT has come while the command ran (policyc.cli reads it: see _interrupted there)


def _message() -> bytes:
    """`policyc: 已中断` in the console's encoding (\\uXXXX escapes where it lacks a character, as the CLI writes)."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        return "policyc: 已中断\n".encode(encoding, "backslashreplace")
    except LookupError:
        return "policyc: 已中断\n".encode("utf-8")


_MESSAGE = _message()


def _exit_now(signum, frame) -> None:
    """SIGINT outside a command: say so and end the process (nothing of the command's is pending)."""
    if sys.stderr is not None:  # descriptor 2 was open when Python started
        try:
            os.write(2, _MESSAGE)
        except OSError:
            pass
    os._exit(EXIT_INTERRUPTED)


def _interrupt(signum, frame) -> None:
    """SIGINT while a command runs: KeyboardInterrupt, as Python's own handler; a second one ends at once."""
    global interrupted
    interrupted = True
    _install(_exit_now)
    raise KeyboardInterrupt


def _install(handler) -> None:
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # not the main thread, or no SIGINT on this system
        pass


_install(_exit_now)


def _redeliver(hook):
    """sys.unraisablehook: a KeyboardInterrupt that Python could only print ("Exception ignored in …", the
    interrupt having landed in a weakref callback or a `__del__`) is raised again, in the command's own code."""
    def unraisable(info) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            _install(_interrupt)
            try:
                signal.raise_signal(signal.SIGINT)  # the handler runs at the next instruction: still in this hook
            except KeyboardInterrupt:  # raised here, it would only be printed again: end as an interrupt, now
                _exit_now(signal.SIGINT, None)
            return
        hook(info)
    return unraisable


def main(argv: list[str] | None = None) -> int:
    """Run the command line (policyc.cli.main) and return its exit code; an interrupted command exits here (130)."""
    try:
        sys.unraisablehook = _redeliver(sys.unraisablehook)
        _install(_interrupt)
        from .cli import main as run
        code = run(argv)
    except KeyboardInterrupt:  # during the CLI's imports (the CLI reports one that reaches it itself)
        _install(_exit_now)
        if sys.stderr is not None:
            try:
                sys.stderr.flush()
                os.write(2, _MESSAGE)
            except (OSError, ValueError):
                pass
        code = EXIT_INTERRUPTED
    finally:
        _install(_exit_now)
    if code == EXIT_INTERRUPTED:
        _exit_interrupted()
    return code


def _exit_interrupted() -> None:
    """End the process with 130 (see the module's docstring): the exit handlers first, as at any exit (temporary
    files removed, child processes stopped), then what is buffered for standard output and error."""
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)
