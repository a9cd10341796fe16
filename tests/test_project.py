"""The project's own promises: the README's layout matches the tree, CI runs the README's test command."""

from __future__ import annotations

import subprocess

from bot.paths import PROJECT_ROOT


def _layout_paths() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    paths: list[str] = []
    folder = ""
    for line in block.splitlines():
        if not line.strip():
            continue
        name = line.split()[0]
        if line.startswith("  "):
            paths.append(folder + name)
        else:
            folder = name if name.endswith("/") else ""
            paths.append(name)
    return paths


def test_every_path_in_the_readme_layout_exists() -> None:
    paths = _layout_paths()
    assert len(paths) > 15
    assert [p for p in paths if not (PROJECT_ROOT / p).exists()] == []


def test_every_top_level_entry_is_in_the_readme_layout() -> None:
    listed = {p.split("/")[0] for p in _layout_paths()}
    files = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {f.split("/")[0] for f in files} - {"README.md", "pyproject.toml", ".gitignore"}
    assert top - listed == set()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme
    assert "exec make test" in (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
