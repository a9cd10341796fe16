"""What a person reads from the bot's processes: the project's lines and errors, without other packages' deprecation notices."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from bot.paths import PROJECT_ROOT
from bot.processes import QUIET_ENV, library_warnings_silenced, python_command

# A server as Rasa's are: Sanic turns deprecation warnings back on when imported,
# then sanic_cors raises one (distutils' LooseVersion); then its own lines, a
# warning of another kind, an error.
SERVER = """
import warnings
import sanic_cors

print("Serveur démarré : parlez au bot sur http://127.0.0.1:5005", flush=True)
warnings.warn("ancienne interface", DeprecationWarning)
warnings.warn("réglage douteux", UserWarning)
raise RuntimeError("base des conversations injoignable")
"""


def _run(command: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **QUIET_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_quiet_process_shows_its_lines_and_errors_but_no_deprecation_notice(
    tmp_path: Path,
) -> None:
    (tmp_path / "serveur.py").write_text(SERVER, encoding="utf-8")
    ran = _run(python_command("serveur"), tmp_path)
    shown = ran.stdout + ran.stderr
    assert "Serveur démarré : parlez au bot" in ran.stdout
    assert "DeprecationWarning" not in shown and "LooseVersion" not in shown
    assert "UserWarning: réglage douteux" in ran.stderr
    assert "RuntimeError: base des conversations injoignable" in ran.stderr
    assert ran.returncode == 1

    # The environment alone is not enough: Sanic turns the notices back on.
    plain = _run((sys.executable, "-m", "serveur"), tmp_path)
    assert "DeprecationWarning" in plain.stderr


def test_verbose_runs_the_module_itself() -> None:
    assert python_command("rasa_sdk", "--port", "5055", verbose=True) == (
        sys.executable,
        "-m",
        "rasa_sdk",
        "--port",
        "5055",
    )
    assert python_command("rasa_sdk", "--port", "5055")[1:4] == ("-m", "bot.processes", "rasa_sdk")


def test_the_project_s_own_deprecations_stay_visible() -> None:
    ours = str(PROJECT_ROOT / "bot" / "answers.py")
    theirs = str(Path(sys.prefix) / "lib" / "python3.10" / "site-packages" / "sanic" / "app.py")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with library_warnings_silenced():
            warnings.warn_explicit("fonction ancienne", DeprecationWarning, ours, 1)
            warnings.warn_explicit("old API", DeprecationWarning, theirs, 1)
        warnings.warn_explicit("old API again", DeprecationWarning, theirs, 2)  # silenced no more
    assert [str(w.message) for w in shown] == ["fonction ancienne", "old API again"]
