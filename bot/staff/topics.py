"""What a topic still needs before citizens can reach it: examples, a rule, retraining.

`python -m bot check` adds these warnings to the knowledge files' own. Reads
`data/` as plain YAML (libyaml when present), without Rasa: the check stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.knowledge import Problem, topic_intents
from bot.paths import PROJECT_ROOT

__all__ = ["MIN_EXAMPLES", "training_gaps"]

MIN_EXAMPLES = 20  # the staff guide's advice for a new topic

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None


def _examples(nlu: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in nlu.get("nlu", []) if isinstance(nlu, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("intent"), str):
            examples = item.get("examples")
            text = examples if isinstance(examples, str) else ""
            lines = [line for line in text.splitlines() if line.strip().startswith("- ")]
            counts[item["intent"]] = counts.get(item["intent"], 0) + len(lines)
    return counts


def _ruled(rules: Any) -> set[str]:
    covered: set[str] = set()
    for rule in rules.get("rules", []) if isinstance(rules, dict) else []:
        for step in rule.get("steps", []) if isinstance(rule, dict) else []:
            if not isinstance(step, dict):
                continue
            for item in step.get("or", [step]):
                if isinstance(item, dict) and isinstance(item.get("intent"), str):
                    covered.add(item["intent"])
    return covered


def _model_outdated(root: Path) -> bool:
    """A model was trained here, but not on the current data (so not the one `make run` starts)."""
    from bot.processes.training import model_fingerprint

    models = root / "models"
    trained = list(models.glob("bot-*.tar.gz")) if models.is_dir() else []
    return bool(trained) and not (models / f"bot-{model_fingerprint(root)}.tar.gz").exists()


def training_gaps(intents: frozenset[str], root: Path = PROJECT_ROOT) -> list[Problem]:
    """Warnings for each answered intent the bot cannot reach yet, and for an outdated model."""
    data = root / "data"
    examples: dict[str, int] = {}
    # Rasa reads every file under data/ (data/alertes.yml holds one intent's examples).
    for path in sorted(data.glob("*.yml")):
        for intent, count in _examples(_read(path)).items():
            examples[intent] = examples.get(intent, 0) + count
    ruled = _ruled(_read(data / "rules.yml"))
    gaps: list[Problem] = []
    for intent in sorted(topic_intents(intents)):
        count = examples.get(intent, 0)
        if count < MIN_EXAMPLES:
            gaps.append(
                Problem(
                    data / "nlu.yml",
                    0,
                    f"le sujet « {intent} » a {count} exemple(s) de questions : écrivez-en au "
                    f"moins {MIN_EXAMPLES}, tels que les habitants les tapent, sous "
                    f"« - intent: {intent} » (guide, section 7).",
                    "avertissement",
                )
            )
        if intent not in ruled:
            gaps.append(
                Problem(
                    data / "rules.yml",
                    0,
                    f"le sujet « {intent} » n'est dans aucune règle : ajoutez « - intent: {intent} » "
                    "à la règle « Répondre à une question de la base de connaissances ».",
                    "avertissement",
                )
            )
    if _model_outdated(root):
        gaps.append(
            Problem(
                root / "models",
                0,
                "les données d'entraînement (data/, domain.yml, config.yml) ont changé depuis le "
                "dernier entraînement : make train, puis redémarrez le bot, pour que le bot "
                "reconnaisse les nouvelles questions.",
                "avertissement",
            )
        )
    return gaps
