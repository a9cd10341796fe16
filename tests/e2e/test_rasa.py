"""Rasa's own checks: the training data is consistent, and the test stories pass with the trained model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.paths import PROJECT_ROOT

RASA = str(Path(sys.executable).with_name("rasa"))


def test_rasa_data_validate_is_clean() -> None:
    result = subprocess.run(
        [RASA, "data", "validate", "--fail-on-warnings"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_test_stories_pass_without_a_single_prediction_error(model: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            RASA,
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            str(PROJECT_ROOT / "tests" / "test_stories.yml"),
            "--endpoints",
            str(PROJECT_ROOT / "tests" / "endpoints-test.yml"),
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    failed = (tmp_path / "failed_test_stories.yml").read_text(encoding="utf-8")
    assert "story:" not in failed, failed
