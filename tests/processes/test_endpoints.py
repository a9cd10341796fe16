"""endpoints.yml for a run and for the staff's tools: the run's private copy, and the store's URL read as Rasa reads it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from bot.cli import main
from bot.processes import EndpointsError, database_url, runtime_endpoints
from bot.processes import endpoints as endpoints_module

PASSWORD = "p@ss/w:rd%41"  # each character that breaks a URL written by hand


def _endpoints(folder: Path, text: str) -> Path:
    path = folder / "endpoints.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_run_s_copy_names_its_action_server_and_database_and_is_private(
    tmp_path: Path,
) -> None:
    source = _endpoints(
        tmp_path,
        'action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n'
        "tracker_store:\n  dialect: sqlite\n  db: var/conversations.db\n  window: 60\n",
    )
    state = tmp_path / "etat"
    target = runtime_endpoints(
        source,
        state / "endpoints-5100.yml",
        actions_url="http://127.0.0.1:5101/webhook",
        cwd=tmp_path,
    )
    written = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert written["action_endpoint"]["url"] == "http://127.0.0.1:5101/webhook"
    assert written["tracker_store"] == {
        "dialect": "sqlite",
        "db": str(tmp_path / "var" / "conversations.db"),
        "window": 60,
    }
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700

    own = tmp_path / "essai.db"
    runtime_endpoints(source, target, actions_url="http://x/webhook", database=own)
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["tracker_store"]["db"] == str(own)


def test_the_store_s_url_keeps_a_password_with_url_characters_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_TEST_DB_PASSWORD", PASSWORD)
    path = _endpoints(
        tmp_path,
        "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: db.example.fr:6543\n"
        "  username: rasa\n  password: ${BOT_TEST_DB_PASSWORD}\n  db: conversations\n",
    )
    url = make_url(database_url(path))
    assert (url.drivername, url.username, url.password) == ("postgresql", "rasa", PASSWORD)
    assert (url.host, url.port, url.database) == ("db.example.fr", 6543, "conversations")


def test_a_sqlite_store_is_a_file_of_the_project_and_a_whole_url_is_kept(tmp_path: Path) -> None:
    path = _endpoints(tmp_path, "tracker_store:\n  dialect: sqlite\n  db: var/conversations.db\n")
    assert database_url(path, root=tmp_path) == f"sqlite:///{tmp_path / 'var' / 'conversations.db'}"
    whole = "postgresql://rasa:secret@db.example.fr/rasa"
    path = _endpoints(tmp_path, f"tracker_store:\n  dialect: postgresql\n  url: {whole}\n")
    assert database_url(path) == whole


def test_a_variable_not_set_or_no_store_is_said_in_french(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOT_TEST_DB_PASSWORD", raising=False)
    path = _endpoints(
        tmp_path, "tracker_store:\n  dialect: postgresql\n  password: ${BOT_TEST_DB_PASSWORD}\n"
    )
    with pytest.raises(
        EndpointsError, match="variable d'environnement non définie : BOT_TEST_DB_PASSWORD"
    ):
        database_url(path)
    path = _endpoints(tmp_path, 'action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n')
    with pytest.raises(EndpointsError, match=r"aucune base des conversations \(tracker_store\)"):
        database_url(path)


def test_staff_commands_read_the_store_only_when_they_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "conversations de test.db"
    monkeypatch.setenv("BOT_TEST_DB", str(database))
    path = _endpoints(tmp_path, "tracker_store:\n  dialect: sqlite\n  db: ${BOT_TEST_DB}\n")
    monkeypatch.setattr(endpoints_module, "ENDPOINTS", path)
    assert main(["purger", "--jours", "30", "--essai"]) == 0
    assert capsys.readouterr().out.startswith("0 conversation(s) (0 événement(s))")
    assert database.exists()  # the expanded path, not "${BOT_TEST_DB}"

    monkeypatch.delenv("BOT_TEST_DB")
    assert main(["purger", "--jours", "30", "--essai"]) == 2
    assert "variable d'environnement non définie : BOT_TEST_DB" in capsys.readouterr().err
    # With --base, it is not read.
    assert main(["purger", "--jours", "30", "--essai", "--base", f"sqlite:///{database}"]) == 0
