"""What the NLU studies share: data, folds, training, parsing, scoring and the threshold sweep.

`fallback_threshold.py` and `nlu_benchmark.py` answer the same question (how
well does a pipeline understand, and at which FallbackClassifier threshold)
and must not split the data two ways: both import this module, so the
threshold `config.yml` cites and the benchmark's operating point come from
the same folds, the same off-topic questions and the same scoring.

The scripts run as `.venv/bin/python bench/<script>.py`: Python puts
`bench/` first on `sys.path`, so `import evaluation` finds this file. `bot`
(the names shared with `domain.yml`, the project root, and the components
`config.yml` names) imports because the project is installed in its virtual
environment in editable mode (`make`'s setup: `pip install -e .`).

- Data: `examples`, `load_nlu` (every NLU file under `data/`), `read_csv`,
  `folds` (the one way to split: stratified by intent, seeded), `off_topic_sets`.
- Models: `configure_rasa`, `train`, `parse_all`, `parse_with_model`, each
  message becoming a `Prediction` (the classifier's best intent before the
  FallbackClassifier, so that any threshold can be applied afterwards).
- Scores: `scores` (accuracy, macro-F1...), `in_scope` (of the in-scope
  questions, those whose intent is not `hors_sujet`: right, wrong topic,
  refused as off topic, not understood at a threshold), `false_answers`
  (off-topic questions answered on a topic; also the NLU data's own
  `hors_sujet` examples, `trained_off_topic`), `all_examples` (the former
  definition, every example together), `confusions`; `sweep` and `operating_point` (the lowest threshold keeping
  every off-topic set under `MAX_FALSE_ANSWERS`).

Rasa and scikit-learn are imported inside the functions that use them:
importing this module is cheap (no Rasa, no spaCy).
"""

from __future__ import annotations

import csv
import logging
import os
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain import INTENT_FALLBACK, INTENT_OFF_TOPIC
from bot.paths import PROJECT_ROOT

__all__ = [
    "BENCH",
    "CONFIG",
    "COVIDFLOW",
    "DEFAULT_SHARED",
    "FOLD_SEED",
    "LARGE_OFF_TOPIC",
    "LOW_CONFIDENCE_SHARE",
    "MAX_FALSE_ANSWERS",
    "NLU_DATA",
    "OFF_TOPIC_SEED",
    "REFUSALS",
    "RESULTS",
    "SHORT_MESSAGES",
    "SUGGESTIONS",
    "SWEEP",
    "WIKIT",
    "Fold",
    "Item",
    "OffTopic",
    "Prediction",
    "Shares",
    "SweepRow",
    "all_examples",
    "configure_rasa",
    "confusions",
    "data_sha",
    "examples",
    "fallback_setting",
    "false_answers",
    "folds",
    "guarded",
    "in_scope",
    "load_nlu",
    "nlu_files",
    "off_topic_sets",
    "operating_point",
    "parse_all",
    "parse_with_model",
    "questions",
    "read_csv",
    "read_sentences",
    "right_answers",
    "scores",
    "short_messages",
    "stock_config",
    "sweep",
    "thresholds",
    "train",
    "trained_off_topic",
]

CONFIG = PROJECT_ROOT / "config.yml"
# Every NLU file under data/ (data/nlu.yml and any other, such as data/alertes.yml).
NLU_DATA = PROJECT_ROOT / "data"
BENCH = PROJECT_ROOT / "bench"
RESULTS = BENCH / "results"
OWN_OFF_TOPIC = BENCH / "data" / "hors_perimetre.txt"
# Written for measuring only, never trained on: the large held-out off-topic set.
LARGE_OFF_TOPIC = BENCH / "data" / "hors_perimetre_evaluation.txt"
# Short messages people really send ("merci", "a+", "👍") and the intent each should get.
SHORT_MESSAGES = BENCH / "data" / "messages_courts.tsv"
# Under `--shared` (by default the shared folder beside the project): the
# external data sets, read at run time, never copied here.
DEFAULT_SHARED = PROJECT_ROOT.parent / "shared"
WIKIT = Path("benchmarks", "nlu", "wikit-covid")
COVIDFLOW = Path("benchmarks", "nlu", "covidflow-fr")

FOLD_SEED = 42
OFF_TOPIC_SEED = 7
WIKIT_OFF_TOPIC_SAMPLE = 300
# A Wikit intent the bot does cover: "what can you do for me?" is its
# `demander_aide`, so these rows are not off-topic questions.
WIKIT_IN_SCOPE_INTENTS = frozenset({"covid---decouvrir-le-champ-d-action-du-bot"})

# Answers that are not a topic: saying "off topic" or "not understood" to an
# off-topic question is right.
REFUSALS = frozenset({INTENT_OFF_TOPIC, INTENT_FALLBACK})
MAX_FALSE_ANSWERS = 0.05
LOW_CONFIDENCE_SHARE = 0.10
SUGGESTIONS = 3
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)

Item = tuple[str, str | None]
"""A message and the intent it should get (None for an off-topic question)."""


# --- Data ------------------------------------------------------------------------


def nlu_files(path: Path) -> list[Path]:
    """The Rasa NLU files of a file or folder (a folder's rules and stories left out)."""
    from rasa.shared.data import get_data_files, is_nlu_file

    return sorted(Path(f) for f in get_data_files([str(path)], is_nlu_file))


def load_nlu(path: Path) -> Any:
    """The training data of a Rasa NLU file, or of every NLU file under a folder, merged."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    return TrainingData().merge(*(load_data(str(f)) for f in nlu_files(path)))


def data_sha(path: Path = NLU_DATA) -> str:
    """Short hash of the NLU files: results must say which version of the data they measured."""
    import hashlib

    digest = hashlib.sha256()
    for file in nlu_files(path):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:10]


def examples(data_file: Path) -> list[tuple[str, str]]:
    """(text, intent) of every intent example of a Rasa NLU file or folder."""
    return [(e.get("text"), e.get("intent")) for e in load_nlu(data_file).intent_examples]


def read_csv(path: Path) -> list[tuple[str, str]]:
    """(utterance, intent) of every row of a Wikit CSV split."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["utterance"], row["intent"]) for row in csv.DictReader(handle)]


@dataclass(frozen=True)
class Fold:
    """One fold: the training data of the other folds, and this fold's held-out messages."""

    training: Any  # rasa.shared.nlu.training_data.training_data.TrainingData
    held_out: list[Item]

    def training_pairs(self) -> list[tuple[str, str]]:
        """(text, intent) of the training examples, for models outside Rasa."""
        return [(e.get("text"), e.get("intent")) for e in self.training.intent_examples]

    def write_training(self, path: Path) -> Path:
        """Writes the training data as a Rasa NLU file, for `train`."""
        path.write_text(self.training.nlu_as_yaml(), encoding="utf-8")
        return path


def folds(data_file: Path, k: int, seed: int = FOLD_SEED) -> list[Fold]:
    """The `k` folds of a Rasa NLU file or folder: stratified by intent, the same for a given seed.

    The only way the studies split data: every pipeline, and both scripts,
    get the same folds of the same file. Synonyms, regexes and lookup tables
    stay in every training part.
    """
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    data = load_nlu(data_file)
    intent_examples = data.intent_examples
    labels = [e.get("intent") for e in intent_examples]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    result = []
    for train_index, test_index in splitter.split(labels, labels):
        training = TrainingData(
            training_examples=[intent_examples[i] for i in train_index],
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
        )
        held_out: list[Item] = [(intent_examples[i].get("text"), labels[i]) for i in test_index]
        result.append(Fold(training, held_out))
    return result


def _comparable(text: str) -> str:
    """Lower case, no accents, single spaces: to find a sentence written twice."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass(frozen=True)
class OffTopic:
    """Off-topic questions by set, and how many candidates each set left out."""

    sets: dict[str, list[str]]
    dropped: dict[str, int]


def off_topic_sets(shared: Path | None) -> OffTopic:
    """Questions no topic of the bot answers, minus any the bot covers or was trained on.

    `hors_perimetre`: `bench/data/hors_perimetre.txt`, written for the
    benchmarks. `hors_perimetre_grand`: `bench/data/hors_perimetre_evaluation.txt`,
    500 and more questions a resident might send a city bot (other
    administrations, private life, shopping, sport, weather, health, jokes,
    insults, other cities), written for measuring and never trained on (the
    `hors_sujet` examples of `data/` are other sentences).
    `wikit_echantillon` (only with `shared`): a seeded sample of the Wikit
    test split, a public-sector help desk, without the one Wikit intent the
    bot covers. Sentences also in the NLU data are left out of all three.
    """
    trained = {_comparable(text) for text, _ in examples(NLU_DATA)}
    sets: dict[str, list[str]] = {}
    dropped: dict[str, int] = {}
    if shared is not None:
        rows = read_csv(shared / WIKIT / "test_dataset.csv")
        wikit = [
            text
            for text, intent in rows
            if intent not in WIKIT_IN_SCOPE_INTENTS and _comparable(text) not in trained
        ]
        random.Random(OFF_TOPIC_SEED).shuffle(wikit)
        sets["wikit_echantillon"] = wikit[:WIKIT_OFF_TOPIC_SAMPLE]
        dropped["wikit_echantillon"] = len(rows) - len(wikit)
    for name, path in (
        ("hors_perimetre", OWN_OFF_TOPIC),
        ("hors_perimetre_grand", LARGE_OFF_TOPIC),
    ):
        own = read_sentences(path)
        sets[name] = [text for text in own if _comparable(text) not in trained]
        dropped[name] = len(own) - len(sets[name])
    return OffTopic(sets, dropped)


def short_messages(path: Path = SHORT_MESSAGES) -> list[Item]:
    """(message, intent) of the short-messages set: one `intent<TAB>message` a line."""
    items: list[Item] = []
    for line in read_sentences(path):
        intent, _, text = line.partition("\t")
        items.append((text.strip(), intent.strip()))
    return items


def read_sentences(path: Path) -> list[str]:
    """The sentences of a text file, one a line; blank lines and `#` comments left out."""
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


# --- Models ----------------------------------------------------------------------


def stock_config(assistant_id: str, *, policies: bool) -> str:
    """The config `rasa init` trains (Rasa's own `default_config.yml`), in French.

    Args:
        assistant_id: names the benchmark that trains it.
        policies: with Rasa's default dialogue policies too (a whole bot), or the NLU pipeline only.
    """
    import importlib.util
    from importlib.metadata import version

    import yaml

    spec = importlib.util.find_spec("rasa")
    assert spec is not None and spec.origin is not None
    default_file = Path(spec.origin).parent / "engine/recipes/config_files/default_config.yml"
    default = yaml.safe_load(default_file.read_text(encoding="utf-8"))
    config = {
        "recipe": default["recipe"],
        "language": "fr",
        "assistant_id": assistant_id,
        "pipeline": default["pipeline"],
    }
    if policies:
        config["policies"] = default["policies"]
    what = "config" if policies else "pipeline"
    return (
        f"# Rasa {version('rasa')} default {what} ({default_file.name}), language fr.\n"
        + yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    )


def configure_rasa(cache_dir: Path) -> None:
    """Makes every training a real one (cache in `cache_dir`, kept empty) and Rasa quiet."""
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ["RASA_CACHE_DIRECTORY"] = str(cache_dir)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.log_utils import configure_structlog

    # Unconfigured, Rasa's structlog prints a debug line per parse: noise, and time measured.
    configure_structlog(logging.WARNING)


def fallback_setting(config_text: str | None) -> tuple[float, float]:
    """The FallbackClassifier's threshold and ambiguity threshold in a config (0, 0 without one)."""
    import yaml

    for component in yaml.safe_load(config_text or "{}").get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return (
                float(component.get("threshold", 0.3)),
                float(component.get("ambiguity_threshold", 0.1)),
            )
    return 0.0, 0.0


def train(config_text: str, data_file: Path, workdir: Path, name: str) -> tuple[str, float]:
    """Trains the NLU part of a config on a data file; returns the model's path and the seconds it took."""
    from rasa.model_training import train_nlu

    # Rasa may write into the config file (auto-configured keys): give it a copy.
    config = workdir / f"{name}.config.yml"
    config.write_text(config_text, encoding="utf-8")
    start = time.perf_counter()
    model = train_nlu(
        config=str(config), nlu_data=str(data_file), output=str(workdir), fixed_model_name=name
    )
    seconds = time.perf_counter() - start
    if model is None:
        raise RuntimeError(f"training {name} on {data_file} produced no model")
    return model, seconds


@dataclass(frozen=True)
class Prediction:
    """One parsed message: the classifier's choice before the fallback, and the pipeline's verdict.

    `top` is the best intent other than the fallback (the fallback itself when
    the not-understood guard emptied the ranking), `margin` its lead over the
    second, `final` the intent the whole pipeline returned, `suggestions` the
    best intents the not-understood reply offers as buttons.
    """

    gold: str | None
    top: str
    confidence: float
    margin: float
    final: str
    suggestions: tuple[str, ...] = ()

    def answered(self, threshold: float, ambiguity: float = 0.0) -> bool:
        """Whether the FallbackClassifier at these thresholds lets the top intent through."""
        return (
            self.top != INTENT_FALLBACK
            and self.confidence >= threshold
            and self.margin >= ambiguity
        )

    def to_row(self) -> list[Any]:
        """A JSON-ready row, for results kept between runs."""
        return [
            self.gold,
            self.top,
            round(self.confidence, 5),
            round(self.margin, 5),
            self.final,
            list(self.suggestions),
        ]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Prediction:
        """The prediction `to_row` wrote (rows of older runs have no suggestions)."""
        suggestions = tuple(row[5]) if len(row) > 5 else ()
        return cls(row[0], row[1], float(row[2]), float(row[3]), row[4], suggestions)


def _prediction(result: dict[str, Any], gold: str | None) -> Prediction:
    final = (result.get("intent") or {}).get("name") or INTENT_FALLBACK
    ranking = [r for r in result.get("intent_ranking") or [] if r["name"] != INTENT_FALLBACK]
    if not ranking:
        # The not-understood guard replaced the whole ranking: nothing to choose from.
        return Prediction(gold, INTENT_FALLBACK, 1.0, 1.0, final)
    confidence = float(ranking[0]["confidence"])
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    suggestions = tuple(r["name"] for r in ranking[:SUGGESTIONS])
    return Prediction(gold, ranking[0]["name"], confidence, confidence - second, final, suggestions)


async def parse_all(agent: Any, items: Iterable[Item]) -> list[Prediction]:
    """Parses each message with a loaded `rasa.core.agent.Agent`."""
    return [_prediction(await agent.parse_message(text), gold) for text, gold in items]


def parse_with_model(
    model: str | Path, batches: Mapping[str, Sequence[Item]]
) -> dict[str, list[Prediction]]:
    """Loads a trained model once and parses each batch of messages with it."""
    import asyncio

    async def run() -> dict[str, list[Prediction]]:
        from rasa.core.agent import Agent

        agent = Agent.load(str(model))
        return {name: await parse_all(agent, items) for name, items in batches.items()}

    return asyncio.run(run())


# --- Scores ----------------------------------------------------------------------


def scores(predictions: Sequence[Prediction]) -> dict[str, float]:
    """Accuracy, macro-F1 over the true intents, accuracy of the least confident 10 %, share the guard sent to the fallback."""
    from sklearn.metrics import f1_score

    gold = [p.gold or "" for p in predictions]
    top = [p.top for p in predictions]
    by_confidence = sorted(predictions, key=lambda p: p.confidence)
    low = by_confidence[: max(1, round(len(predictions) * LOW_CONFIDENCE_SHARE))]
    return {
        "n": len(predictions),
        "accuracy": sum(g == t for g, t in zip(gold, top, strict=True)) / len(predictions),
        "macro_f1": float(
            f1_score(gold, top, labels=sorted(set(gold)), average="macro", zero_division=0)
        ),
        "low_accuracy": sum(p.top == p.gold for p in low) / len(low),
        "guarded": guarded(predictions),
    }


def guarded(predictions: Sequence[Prediction]) -> float:
    """Share of messages the not-understood guard sent to the fallback whatever the threshold."""
    return sum(p.top == INTENT_FALLBACK for p in predictions) / len(predictions)


@dataclass(frozen=True)
class Shares:
    """What happens to the in-scope questions at a threshold: shares of all of them.

    In-scope questions are the examples whose intent is not `hors_sujet`.
    Each gets exactly one of four outcomes: `right` (its topic, above the
    thresholds), `wrong` (another of the bot's topics above the thresholds:
    the citizen reads a wrong answer), `refused` (`hors_sujet` above the
    thresholds: the citizen is told the bot does not cover this) or
    `not_understood` (under a threshold, or sent to the fallback by the
    guard: the not-understood reply and its buttons).
    """

    right: float
    wrong: float
    refused: float
    not_understood: float
    # Not understood, with the right topic among the buttons the reply offers.
    offered: float

    @property
    def unanswered(self) -> float:
        """Refused as off topic or not understood: no answer on the question's topic nor any other."""
        return self.refused + self.not_understood


def questions(predictions: Iterable[Prediction]) -> list[Prediction]:
    """The in-scope questions: predictions whose expected intent is not `hors_sujet`."""
    return [p for p in predictions if p.gold != INTENT_OFF_TOPIC]


def trained_off_topic(predictions: Iterable[Prediction]) -> list[Prediction]:
    """The off-topic examples of the NLU data (expected intent `hors_sujet`), held out in a fold."""
    return [p for p in predictions if p.gold == INTENT_OFF_TOPIC]


def in_scope(predictions: Sequence[Prediction], threshold: float, ambiguity: float) -> Shares:
    """Of the in-scope questions among `predictions`: right, wrong topic, refused, not understood.

    The off-topic examples (`hors_sujet`) are left out: `false_answers` of
    `trained_off_topic` measures them on their own.
    """
    right = wrong = refused = offered = 0
    asked = questions(predictions)
    for p in asked:
        if not p.answered(threshold, ambiguity):
            offered += p.gold in p.suggestions
        elif p.top == p.gold:
            right += 1
        elif p.top == INTENT_OFF_TOPIC:
            refused += 1
        else:
            wrong += 1
    n = len(asked) or 1
    return Shares(right / n, wrong / n, refused / n, (n - right - wrong - refused) / n, offered / n)


def all_examples(
    predictions: Sequence[Prediction], threshold: float, ambiguity: float
) -> tuple[float, float, float]:
    """The definition used before: right, wrong and fallback over every example, `hors_sujet` included.

    An off-topic example answered `hors_sujet` under the threshold counted as
    a fallback, one answered with a topic as wrong, and an in-scope question
    answered `hors_sujet` as wrong. Kept in one line of the report so that the
    change of definition shows.
    """
    answered = [p for p in predictions if p.answered(threshold, ambiguity)]
    right = sum(p.top == p.gold for p in answered)
    n = len(predictions) or 1
    return right / n, (len(answered) - right) / n, (n - len(answered)) / n


def right_answers(predictions: Sequence[Prediction], threshold: float, ambiguity: float) -> float:
    """Share of messages answered, above the thresholds, with the intent they should get."""
    right = [p for p in predictions if p.answered(threshold, ambiguity) and p.top == p.gold]
    return len(right) / (len(predictions) or 1)


def false_answers(predictions: Sequence[Prediction], threshold: float, ambiguity: float) -> float:
    """Share of off-topic questions answered on one of the bot's topics."""
    answered = [
        p for p in predictions if p.answered(threshold, ambiguity) and p.top not in REFUSALS
    ]
    return len(answered) / (len(predictions) or 1)


def confusions(predictions: Iterable[Prediction]) -> Counter[tuple[str, str]]:
    """How often each (expected, predicted) pair of different intents occurs."""
    return Counter((str(p.gold), p.top) for p in predictions if p.top != p.gold)


def thresholds(configured: float) -> list[float]:
    """The swept thresholds, plus a pipeline's configured one and the hundredth under it.

    The hundredth under shows whether the configured threshold is the lowest
    that keeps the off-topic sets under `MAX_FALSE_ANSWERS` at that resolution.
    """
    below = round(configured - 0.01, 2)
    return sorted({*SWEEP, configured, *([below] if below > 0 else [])})


@dataclass(frozen=True)
class SweepRow:
    """One threshold: in-scope shares, and the false-answer rate of each off-topic set.

    `trained_off_topic` is the share of the NLU data's own off-topic
    examples (held out in their fold) answered on one of the bot's topics:
    shown beside the sets, not part of `acceptable` (the issue's bar is on
    the off-topic sets written for measuring and the Wikit sample).
    """

    threshold: float
    shares: Shares
    false_answers: dict[str, float]
    trained_off_topic: float = 0.0

    @property
    def acceptable(self) -> bool:
        """Whether every off-topic set stays under `MAX_FALSE_ANSWERS`."""
        return all(rate < MAX_FALSE_ANSWERS for rate in self.false_answers.values())


def sweep(
    in_scope_predictions: Sequence[Prediction],
    off_topic: Mapping[str, Sequence[Prediction]],
    candidates: Iterable[float],
    ambiguity: float,
) -> list[SweepRow]:
    """In-scope shares and off-topic false answers at each candidate threshold.

    `in_scope_predictions` are the cross-validation predictions of the NLU
    data, its `hors_sujet` examples included (scored apart).
    """
    trained = trained_off_topic(in_scope_predictions)
    return [
        SweepRow(
            threshold,
            in_scope(in_scope_predictions, threshold, ambiguity),
            {name: false_answers(p, threshold, ambiguity) for name, p in off_topic.items()},
            false_answers(trained, threshold, ambiguity),
        )
        for threshold in candidates
    ]


def operating_point(rows: Iterable[SweepRow]) -> SweepRow | None:
    """The lowest threshold keeping every off-topic set under `MAX_FALSE_ANSWERS`.

    Lowest, because it keeps the most in-scope answers. Each pipeline at its
    own operating point is the fair comparison: confidences of different
    classifiers are not on the same scale.
    """
    return next((row for row in sorted(rows, key=lambda r: r.threshold) if row.acceptable), None)
