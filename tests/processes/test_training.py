"""Training on change: the model is named by its inputs, and a newcomer reads one French line, not Rasa's progress bars.

The training itself is a stand-in `rasa` package in the project folder of
the test (`python -m rasa train …` finds it first): what is checked is what
reaches the terminal and the log, not Rasa's learning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.paths import PROJECT_ROOT
from bot.processes import MODEL_INPUTS, TrainingFailed, model_fingerprint, train_if_needed, training

# What `rasa train` looks like from outside: a library's deprecation notice
# (after turning them back on, as Sanic does), English progress bars, a model.
FAKE_RASA = """
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("once", category=DeprecationWarning)
warnings.warn("pkg_resources is deprecated as an API", DeprecationWarning)
print("Epochs: 100%|##########| 300/300 [00:03<00:00, 95.2it/s, t_loss=0.1]", file=sys.stderr)
if "--échouer" in Path("config.yml").read_text(encoding="utf-8"):
    print("InvalidConfigException: the pipeline is broken", file=sys.stderr)
    sys.exit(1)
arguments = sys.argv[1:]
out = Path(arguments[arguments.index("--out") + 1])
name = arguments[arguments.index("--fixed-model-name") + 1]
(out / f"{name}.tar.gz").write_bytes(b"model")
print("Your Rasa model is trained and saved")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose `rasa` is the stand-in; only config.yml counts as a model input."""
    (tmp_path / "rasa").mkdir()
    (tmp_path / "rasa" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "rasa" / "__main__.py").write_text(FAKE_RASA, encoding="utf-8")
    (tmp_path / "config.yml").write_text("language: fr\n", encoding="utf-8")
    monkeypatch.setattr(training, "MODEL_INPUTS", ("config.yml",))
    return tmp_path


def test_fingerprint_changes_with_the_training_data_only(tmp_path: Path) -> None:
    for name in MODEL_INPUTS:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    before = model_fingerprint(tmp_path)
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge" / "velo.yml").write_text("theme: x\n", encoding="utf-8")
    assert model_fingerprint(tmp_path) == before  # answers change without retraining
    with (tmp_path / "data" / "nlu.yml").open("a", encoding="utf-8") as handle:
        handle.write("    - une formulation de plus\n")
    assert model_fingerprint(tmp_path) != before


def test_training_shows_a_french_line_and_keeps_rasa_s_output_in_the_log(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = project / "logs" / "train.log"
    model = train_if_needed(project, log_file=log)
    shown = capfd.readouterr()
    assert model.read_bytes() == b"model"
    assert "Entraînement du modèle" in shown.out and f"Modèle entraîné : {model}" in shown.out
    assert "Warning" not in shown.out + shown.err
    assert "Epochs" not in shown.out + shown.err
    assert "Epochs: 100%" in log.read_text(encoding="utf-8")
    assert "DeprecationWarning" not in log.read_text(encoding="utf-8")

    assert train_if_needed(project, log_file=log) == model  # nothing changed: not trained again
    assert capfd.readouterr().out == f"Modèle à jour, réutilisé : {model}\n"


def test_a_failed_training_shows_rasa_s_error_and_where_the_log_is(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (project / "config.yml").write_text("language: fr\n# --échouer\n", encoding="utf-8")
    log = project / "logs" / "train.log"
    with pytest.raises(TrainingFailed) as failed:
        train_if_needed(project, log_file=log)
    assert str(failed.value) == (
        f"L'entraînement du modèle a échoué (code 1) ; journal complet : {log}."
    )
    shown = capfd.readouterr()
    assert "InvalidConfigException: the pipeline is broken" in shown.err
    assert "DeprecationWarning" not in shown.out + shown.err


def test_verbose_training_shows_everything(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = project / "logs" / "train.log"
    train_if_needed(project, verbose=True, log_file=log)
    shown = capfd.readouterr()
    assert "Entraînement du modèle" in shown.out
    assert "Epochs: 100%" in shown.err
    assert "DeprecationWarning: pkg_resources is deprecated" in shown.err
    assert not log.exists()
