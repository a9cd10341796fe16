"""What `check` says a topic still needs before citizens can reach it (examples, rule, retraining)."""

from __future__ import annotations

from pathlib import Path

from bot.processes import MODEL_INPUTS
from bot.staff.topics import training_gaps

NLU = """\
nlu:
- intent: velo
  examples: |
{examples}
- intent: cantine_scolaire
  examples: |
    - menu de la cantine
"""

RULES = """\
rules:
- rule: Répondre à une question de la base de connaissances
  steps:
  - or:
    - intent: velo
  - action: action_repondre_question
"""


def _project(root: Path) -> Path:
    for name in MODEL_INPUTS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if name != "data":
            (root / name).write_text("", encoding="utf-8")
    (root / "data").mkdir(exist_ok=True)
    examples = "\n".join(f"    - ou garer mon velo {n}" for n in range(20))
    (root / "data" / "nlu.yml").write_text(NLU.format(examples=examples), encoding="utf-8")
    (root / "data" / "rules.yml").write_text(RULES, encoding="utf-8")
    return root


def test_a_topic_without_enough_examples_or_rule_is_said_with_what_to_do(tmp_path: Path) -> None:
    root = _project(tmp_path)
    said = [p.message for p in training_gaps(frozenset({"velo", "cantine_scolaire"}), root)]
    assert said == [
        "le sujet « cantine_scolaire » a 1 exemple(s) de questions : écrivez-en au moins 20, "
        "tels que les habitants les tapent, sous « - intent: cantine_scolaire » (guide, section 7).",
        "le sujet « cantine_scolaire » n'est dans aucune règle : ajoutez « - intent: "
        "cantine_scolaire » à la règle « Répondre à une question de la base de connaissances ».",
    ]


def test_a_model_trained_on_older_data_asks_for_retraining(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert training_gaps(frozenset({"velo"}), root) == []  # never trained here: nothing to say
    (root / "models").mkdir()
    (root / "models" / "bot-0123456789abcdef.tar.gz").write_bytes(b"old")
    (gap,) = training_gaps(frozenset({"velo"}), root)
    assert "make train, puis redémarrez le bot" in gap.message and gap.severity == "avertissement"
