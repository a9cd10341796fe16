"""Starting the bot: the model is named by its inputs, and one process dying stops the other."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from bot.knowledge import PROJECT_ROOT
from bot.servers import MODEL_INPUTS, BotProcesses, ServerDied, model_fingerprint


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


def test_when_one_server_dies_the_other_is_stopped_and_named(tmp_path: Path) -> None:
    bot = BotProcesses(model=tmp_path / "model.tar.gz", log_dir=tmp_path)
    env = dict(os.environ)
    bot._spawn("serveur d'actions", ["sleep", "60"], env)
    bot._spawn("serveur Rasa", ["sh", "-c", "exit 3"], env)
    survivor = bot._processes["serveur d'actions"]
    deadline = time.monotonic() + 30
    while bot._processes["serveur Rasa"].poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(ServerDied, match=r"Le serveur Rasa s'est arrêté \(code 3\)"):
        bot.check_alive()
    assert survivor.poll() is not None
