"""Private files and folders: secrets are never readable by other local users, not even for a moment."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.paths import PROJECT_ROOT, VAR_DIR, private_dir, write_private


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
