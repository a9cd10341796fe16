"""Chooses the FallbackClassifier threshold from measured confidences, not by guess.

Usage:
    .venv/bin/python bench/fallback_threshold.py [--folds 3] [--shared ../shared]

For each of `--folds` stratified folds of `data/nlu.yml`, trains the NLU part
of `config.yml` on the other folds and parses the held-out examples (in scope)
and two out-of-scope sets: `bench/data/hors_perimetre.txt` (written for this
benchmark, never trained on) and, when `--shared` is given, the questions of
the Wikit test split (a public-sector help desk: no topic of this bot applies).

A threshold t turns every prediction under t into the not-understood reply.
For each t the script reports, in scope: the share answered on the right topic,
answered on a wrong one, and sent to the fallback; out of scope: the share
answered on one of the bot's topics (a false answer; `hors_sujet` and the
fallback both count as correct refusals). The recommended threshold is the
lowest one whose out-of-scope false answers stay under 5 %, which keeps the
most in-scope answers.

The table is printed and written to bench/results/fallback_threshold.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import random
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFUSALS = frozenset({"hors_sujet", "nlu_fallback"})
THRESHOLDS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9)
MAX_FALSE_ANSWERS = 0.05


@dataclass(frozen=True)
class Prediction:
    """The classifier's best intent (before any fallback) and its confidence."""

    gold: str | None
    intent: str
    confidence: float
    suggestions: tuple[str, ...] = ()


def _read_off_topic(shared: Path | None) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    own = ROOT / "bench" / "data" / "hors_perimetre.txt"
    sets["hors_perimetre"] = [
        line.strip()
        for line in own.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if shared is not None:
        wikit = shared / "benchmarks" / "nlu" / "wikit-covid" / "test_dataset.csv"
        with wikit.open(encoding="utf-8") as handle:
            rows = [row["utterance"] for row in csv.DictReader(handle)]
        random.Random(7).shuffle(rows)
        sets["wikit_test_echantillon"] = rows[:300]
    return sets


def _folds(k: int) -> list[tuple[object, list[tuple[str, str]]]]:
    """(training data, held-out (text, intent)) for each fold, stratified by intent."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(ROOT / "data" / "nlu.yml"))
    by_intent: dict[str, list[object]] = defaultdict(list)
    for example in data.intent_examples:
        by_intent[example.get("intent")].append(example)
    rng = random.Random(42)
    assignment: list[list[object]] = [[] for _ in range(k)]
    for examples in by_intent.values():
        rng.shuffle(examples)
        for index, example in enumerate(examples):
            assignment[index % k].append(example)
    folds = []
    for i in range(k):
        train = [e for j in range(k) if j != i for e in assignment[j]]
        test = [(e.get("text"), e.get("intent")) for e in assignment[i]]  # type: ignore[attr-defined]
        folds.append((TrainingData(training_examples=train), test))  # type: ignore[arg-type]
    return folds


async def _parse_all(model: str, texts: list[tuple[str, str | None]]) -> list[Prediction]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    predictions = []
    for text, gold in texts:
        result = await agent.parse_message(text)
        # The classifier's own choice, without the FallbackClassifier's verdict, so
        # that every threshold can be applied afterwards. The not-understood guard
        # replaces the whole ranking: then nothing is left and the message falls back.
        ranking = [r for r in result.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        best = ranking[0] if ranking else {"name": "nlu_fallback", "confidence": 1.0}
        suggestions = tuple(r["name"] for r in ranking[:3])
        predictions.append(Prediction(gold, best["name"], float(best["confidence"]), suggestions))
    return predictions


def _row(predictions: list[Prediction], threshold: float) -> tuple[float, float, float, float]:
    """Shares answered right, answered wrong, fallen back, and fallen back with the right topic offered."""
    right = wrong = fallback = offered = 0
    for p in predictions:
        if p.intent == "nlu_fallback" or p.confidence < threshold:
            fallback += 1
            # The not-understood reply offers the closest topics as buttons.
            offered += p.gold in p.suggestions
        elif p.intent == p.gold:
            right += 1
        else:
            wrong += 1
    n = len(predictions) or 1
    return right / n, wrong / n, fallback / n, offered / n


def _false_answers(predictions: list[Prediction], threshold: float) -> float:
    answered = [p for p in predictions if p.intent not in REFUSALS and p.confidence >= threshold]
    return len(answered) / (len(predictions) or 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=None, help="the shared folder (../shared)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "fallback_threshold.md"
    )
    args = parser.parse_args()

    from rasa.model_training import train_nlu

    off_topic = _read_off_topic(args.shared)
    in_scope: list[Prediction] = []
    outside: dict[str, list[Prediction]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (training, held_out) in enumerate(_folds(args.folds)):
            data_file = Path(tmp) / f"fold{i}.yml"
            data_file.write_text(training.nlu_as_yaml(), encoding="utf-8")  # type: ignore[attr-defined]
            print(f"Pli {i + 1}/{args.folds} : entraînement…", flush=True)
            model = train_nlu(
                config=str(ROOT / "config.yml"),
                nlu_data=str(data_file),
                output=tmp,
                fixed_model_name=f"fold{i}",
            )
            assert model is not None
            texts: list[tuple[str, str | None]] = [(t, g) for t, g in held_out]
            in_scope += asyncio.run(_parse_all(model, texts))
            for name, sentences in off_topic.items():
                outside[name] += asyncio.run(_parse_all(model, [(s, None) for s in sentences]))

    lines = [
        f"# Seuil du FallbackClassifier ({dt.date.today().isoformat()}, {args.folds} plis)",
        "",
        f"Dans le périmètre : {len(in_scope)} exemples de data/nlu.yml, validation croisée. "
        + "Hors périmètre : "
        + ", ".join(
            f"{name} ({len(off_topic[name])} phrases × {args.folds} modèles)" for name in off_topic
        ),
        "",
        "| seuil | bonne réponse | mauvaise réponse | repli | repli, bon sujet proposé | "
        + " | ".join(f"fausses réponses {name}" for name in off_topic)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(off_topic),
    ]
    recommended = None
    for threshold in THRESHOLDS:
        right, wrong, fallback, offered = _row(in_scope, threshold)
        false_rates = [_false_answers(outside[name], threshold) for name in off_topic]
        if recommended is None and all(rate < MAX_FALSE_ANSWERS for rate in false_rates):
            recommended = threshold
        lines.append(
            f"| {threshold:.2f} | {right:.3f} | {wrong:.3f} | {fallback:.3f} | {offered:.3f} | "
            + " | ".join(f"{rate:.3f}" for rate in false_rates)
            + " |"
        )
    lines += [
        "",
        f"Seuil recommandé (le plus bas gardant les fausses réponses hors périmètre sous "
        f"{MAX_FALSE_ANSWERS:.0%}) : {recommended if recommended is not None else 'aucun'}",
    ]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
