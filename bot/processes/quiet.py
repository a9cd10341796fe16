"""What a person reads from the bot's processes: the project's messages and errors, not other packages' deprecation notices.

Rasa 3.6 and the packages it pins (SQLAlchemy 1.4, pkg_resources, pyparsing,
TensorFlow…) announce their own deprecations at every start: some forty
lines before the bot's first. Unless `--verbose` is asked for:

- each Python process is started as `python -m bot.processes MODULE ARG…`
  (`python_command`), which runs `python -m MODULE ARG…` but drops, when they
  are shown, the deprecation warnings raised outside the project's code. A
  warnings filter set at start would not be enough: Sanic turns deprecation
  warnings back on when it is imported (`filterwarnings("once", …)`);
- `QUIET_ENV` keeps TensorFlow's C++ log to errors, silences SQLAlchemy's
  notice about 2.0, and filters deprecation warnings in any other Python
  process they start.

Errors, tracebacks and every other warning still show.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TextIO

from bot.paths import PROJECT_ROOT

__all__ = ["QUIET_ENV", "library_warnings_silenced", "python_command", "run_module"]

QUIET_ENV = {
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ errors only: no INFO, no WARNING
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}

_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning)
# Where the project's own code lives: its deprecation warnings stay visible.
_OURS = tuple(f"{PROJECT_ROOT / folder}{os.sep}" for folder in ("bot", "actions", "tests", "bench"))


@contextlib.contextmanager
def library_warnings_silenced() -> Iterator[None]:
    """While inside, deprecation warnings raised outside the project's code are not shown."""
    show = warnings.showwarning

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, _DEPRECATIONS) and not filename.startswith(_OURS):
            return
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    try:
        yield
    finally:
        warnings.showwarning = show


def python_command(module: str, *args: str, verbose: bool = False) -> tuple[str, ...]:
    """The command that runs `python -m module args…`, without other packages' deprecation notices unless `verbose`."""
    if verbose:
        return (sys.executable, "-m", module, *args)
    return (sys.executable, "-m", "bot.processes", module, *args)


def run_module(argv: Sequence[str]) -> None:
    """Runs `argv` (`MODULE ARG…`) as `python -m` would, in this process, with library deprecation warnings silenced."""
    if not argv:
        raise SystemExit("usage : python -m bot.processes MODULE [ARGUMENT…]")
    module, *arguments = argv
    sys.argv = [module, *arguments]
    # This package imports bot.rasa_plugins.server (for its TOKEN_ENV): run a
    # fresh copy as __main__, as `python -m` does, rather than beside that one.
    sys.modules.pop(module, None)
    # Off a terminal (log files, journald), every log line is a JSON object (bot.ops.logs).
    from bot.ops.logs import install as install_json_logs

    install_json_logs()
    with library_warnings_silenced():
        runpy.run_module(module, run_name="__main__", alter_sys=True)
