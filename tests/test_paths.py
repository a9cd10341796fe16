"""Private files and folders: secrets are never readable by other local users, not even for a moment."""

from __future__ import annotations

import logging
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bot.paths import PROJECT_ROOT, VAR_DIR, load_secret, private_dir, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_project_paths() -> None:
    assert (PROJECT_ROOT / "domain.yml").is_file()
    assert VAR_DIR == PROJECT_ROOT / "var"


def test_private_dir_is_created_for_its_owner_only_and_narrowed_if_wider(tmp_path: Path) -> None:
    created = private_dir(tmp_path / "a" / "var")
    assert created.is_dir() and _mode(created) == 0o700
    existing = tmp_path / "ouvert"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    private_dir(existing)
    assert _mode(existing) == 0o700


def test_write_private_creates_and_replaces_with_owner_only_rights(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret"
    write_private(path, "premier\n")
    assert path.read_text(encoding="utf-8") == "premier\n" and _mode(path) == 0o600
    path.chmod(0o644)  # an old copy, written before the bot kept secrets private
    write_private(path, "deuxième\n")
    assert path.read_text(encoding="utf-8") == "deuxième\n" and _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]  # no temporary left


def _secret(path: Path, environ: dict[str, str] | None = None) -> bytes:
    return load_secret("BOT_SECRET_DE_TEST", path, what="la clé de test", environ=environ or {})


def test_secret_from_the_environment_wins_and_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "var" / "cle"
    assert _secret(path, {"BOT_SECRET_DE_TEST": " " + "e" * 40 + "\n"}) == b"e" * 40
    assert not path.parent.exists()
    assert caplog.text == ""
    assert _secret(path, {"BOT_SECRET_DE_TEST": "courte"}) == b"courte"
    assert "BOT_SECRET_DE_TEST fait moins de 32 caractères" in caplog.text


def test_secret_is_created_once_private_and_kept_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "var" / "cle"
    first = _secret(path)
    assert len(first) == 64 and _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert path.read_bytes() == first + b"\n"
    assert _secret(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["cle"]  # no temporary left


def test_secret_file_readable_by_others_is_narrowed_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cle"
    first = _secret(path)
    path.chmod(0o644)
    assert _secret(path) == first and _mode(path) == 0o600
    assert "était lisible par d'autres utilisateurs (644) : droits ramenés à 0600" in caplog.text


@pytest.mark.parametrize("content", [b"", b"\n", b"trop-courte\n"])
def test_empty_or_short_secret_file_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "cle"
    path.write_bytes(content)
    secret = _secret(path)
    assert len(secret) == 64 and path.read_bytes() == secret + b"\n" and _mode(path) == 0o600
    assert "était vide ou trop court : une nouvelle clé le remplace" in caplog.text
    assert _secret(path) == secret


def test_unwritable_secret_file_gives_a_key_for_this_process_with_a_french_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "fichier"
    blocked.write_text("pas un dossier", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    first = _secret(blocked / "cle")
    assert len(first) == 64 and _secret(blocked / "cle") != first
    assert "Impossible de garder la clé de test dans" in caplog.text
    assert "valable pour ce processus seulement" in caplog.text


def test_processes_starting_together_share_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "var" / "cle"
    with ProcessPoolExecutor(max_workers=4) as pool:
        secrets = set(pool.map(_secret, [path] * 16))
    assert secrets == {path.read_bytes().strip()}
