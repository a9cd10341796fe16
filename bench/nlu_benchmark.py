"""Understanding, measured: the project's NLU pipeline against stock Rasa 3.6, side by side.

Usage (from the project root; the whole run takes about 1 h 30 on two cores):
    .venv/bin/python bench/nlu_benchmark.py
    .venv/bin/python bench/nlu_benchmark.py --only wikit covidflow
    .venv/bin/python bench/nlu_benchmark.py --only own --folds 3
    .venv/bin/python bench/nlu_benchmark.py --configs projet /tmp/variante.yml --out /tmp/v.md

Pipelines (`--configs`, default all four): `projet` (the project's `config.yml`),
`stock` (the pipeline Rasa 3.6 trains for a `rasa init` project, read from
Rasa's own `default_config.yml`, language set to French), `covidflow`
(covidflow's `config.fr.yml`, only on covidflow's data), `tfidf` (TF-IDF char
1-4 + word 1-2 and a linear SVM, the reference of the Wikit README), or the
path of any Rasa config file (its column is named after the file).

Sections (`--only`, default all four, in this order):
- `wikit`: trains on the Wikit train split (330 rows), scores its test split (913 rows);
- `covidflow`: stratified `--folds`-fold cross-validation on covidflow's French data;
- `own`: the same on `data/nlu.yml`, with the most confused intent pairs;
- `latency`: trains each pipeline on the whole of `data/nlu.yml` (training
  time), parses 500 messages with each model in turn (p50, p95), then parses
  off-topic questions (a sample of the Wikit test split and
  `bench/data/hors_perimetre.txt`) and counts confident answers on a topic.

Scores use the classifier's own best intent, before the FallbackClassifier;
the threshold is applied afterwards, so that every threshold can be compared.
The benchmark data is read from `--shared` at run time and never copied here.

Each section's figures are kept next to `--out` (same name, `.json.tmp`), so
that sections run one after another with `--only` end up in one table; a run
without `--only` starts afresh. The table is printed and written to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import hashlib
import importlib.util
import json
import logging
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fallback_threshold import MAX_FALSE_ANSWERS, REFUSALS, _read_off_topic

ROOT = Path(__file__).resolve().parents[1]
NLU_DATA = ROOT / "data" / "nlu.yml"
WIKIT = Path("benchmarks", "nlu", "wikit-covid")
COVIDFLOW = Path("benchmarks", "nlu", "covidflow-fr")

SECTIONS = ("wikit", "covidflow", "own", "latency")
DEFAULT_CONFIGS = ("projet", "stock", "covidflow", "tfidf")
FALLBACK = "nlu_fallback"
LOW_CONFIDENCE_SHARE = 0.10
LATENCY_MESSAGES = 500
WARM_UP_MESSAGES = 10
WIKIT_OFF_TOPIC_SAMPLE = 300
MAX_LATENCY_RATIO = 1.20
TFIDF_REFERENCE_ACCURACY = 0.815
SWEEP = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
CONFUSED_PAIRS = 10
# A Wikit intent the bot does cover: "what can you do for me?" is its
# `demander_aide`, so these rows are not off-topic questions.
WIKIT_IN_SCOPE_INTENTS = frozenset({"covid---decouvrir-le-champ-d-action-du-bot"})


@dataclass(frozen=True)
class Pipeline:
    """One column of the table: a Rasa config (its YAML text) or the TF-IDF baseline."""

    name: str
    label: str
    source: str
    text: str | None
    only_section: str | None = None

    @property
    def sha(self) -> str:
        """Short hash of the config text, to tell results of different versions apart."""
        return hashlib.sha256((self.text or "tfidf").encode("utf-8")).hexdigest()[:10]

    def fallback(self) -> tuple[float, float]:
        """The FallbackClassifier's threshold and ambiguity threshold (0, 0 without one)."""
        import yaml

        for component in yaml.safe_load(self.text or "{}").get("pipeline") or []:
            if component.get("name") == "FallbackClassifier":
                return (
                    float(component.get("threshold", 0.3)),
                    float(component.get("ambiguity_threshold", 0.1)),
                )
        return 0.0, 0.0


@dataclass(frozen=True)
class Parsed:
    """One parsed message: the classifier's choice before the fallback, and the pipeline's verdict."""

    gold: str | None
    top: str
    confidence: float
    margin: float
    final: str

    def answered(self, threshold: float, ambiguity: float) -> bool:
        """Whether the FallbackClassifier at these thresholds lets the top intent through."""
        return self.top != FALLBACK and self.confidence >= threshold and self.margin >= ambiguity


@dataclass
class Context:
    """What every section needs: inputs, pipelines and a scratch folder."""

    shared: Path
    folds: int
    pipelines: list[Pipeline]
    tmp: Path

    def pipelines_for(self, section: str, rasa_only: bool = False) -> list[Pipeline]:
        """The pipelines that run in a section."""
        return [
            p
            for p in self.pipelines
            if p.only_section in (None, section) and not (rasa_only and p.text is None)
        ]


# --- Pipelines -------------------------------------------------------------------


def _stock_config() -> str:
    """The pipeline Rasa 3.6 trains when `rasa init`'s config.yml leaves it empty."""
    import yaml

    spec = importlib.util.find_spec("rasa")
    assert spec is not None and spec.origin is not None
    default_file = Path(spec.origin).parent / "engine/recipes/config_files/default_config.yml"
    default = yaml.safe_load(default_file.read_text(encoding="utf-8"))
    config = {
        "recipe": default["recipe"],
        "language": "fr",
        "assistant_id": "nlu_benchmark_stock",
        "pipeline": default["pipeline"],
    }
    return (
        f"# Rasa {version('rasa')} default pipeline ({default_file.name}), language fr.\n"
        + yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    )


def _resolve(name: str, shared: Path) -> Pipeline:
    if name == "projet":
        return Pipeline(name, "projet", "config.yml", (ROOT / "config.yml").read_text("utf-8"))
    if name == "stock":
        return Pipeline(name, "stock", f"Rasa {version('rasa')} `rasa init`", _stock_config())
    if name == "covidflow":
        config = shared / COVIDFLOW / "config.fr.yml"
        return Pipeline(name, "covidflow", "config.fr.yml", config.read_text("utf-8"), "covidflow")
    if name == "tfidf":
        return Pipeline(name, "TF-IDF + SVM", "scikit-learn", None)
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"--configs : « {name} » n'est ni un nom connu ni un fichier.")
    return Pipeline(path.stem, path.stem, str(path), path.read_text("utf-8"))


def _train(ctx: Context, pipeline: Pipeline, data: Path, name: str) -> tuple[str, float]:
    """Trains the NLU part of a pipeline; returns the model's path and the seconds it took."""
    from rasa.model_training import train_nlu

    # Rasa may write into the config file (auto-configured keys): give it a copy.
    config = ctx.tmp / f"{pipeline.name}.config.yml"
    config.write_text(pipeline.text or "", encoding="utf-8")
    print(f"  entraînement {pipeline.name} sur {data.name}…", flush=True)
    start = time.perf_counter()
    model = train_nlu(
        config=str(config), nlu_data=str(data), output=str(ctx.tmp), fixed_model_name=name
    )
    seconds = time.perf_counter() - start
    if model is None:
        raise RuntimeError(f"training {pipeline.name} on {data} produced no model")
    return model, seconds


def _parsed(result: dict[str, Any], gold: str | None) -> Parsed:
    final = (result.get("intent") or {}).get("name") or FALLBACK
    ranking = [r for r in result.get("intent_ranking") or [] if r["name"] != FALLBACK]
    if not ranking:
        # The not-understood guard replaced the whole ranking: nothing to choose from.
        return Parsed(gold, FALLBACK, 1.0, 1.0, final)
    confidence = float(ranking[0]["confidence"])
    second = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    return Parsed(gold, ranking[0]["name"], confidence, confidence - second, final)


async def _parse_all(agent: Any, items: list[tuple[str, str | None]]) -> list[Parsed]:
    return [_parsed(await agent.parse_message(text), gold) for text, gold in items]


async def _load_and_parse(model: str, items: list[tuple[str, str | None]]) -> list[Parsed]:
    from rasa.core.agent import Agent

    return await _parse_all(Agent.load(model), items)


def _parse_model(model: str, items: list[tuple[str, str | None]]) -> list[Parsed]:
    """Parses the items with a trained model, then deletes the model."""
    predictions = asyncio.run(_load_and_parse(model, items))
    Path(model).unlink(missing_ok=True)
    return predictions


def _tfidf(
    train: list[tuple[str, str]], test: list[tuple[str, str | None]]
) -> tuple[list[Parsed], float]:
    """The Wikit README's reference: TF-IDF (char_wb 1-4 + words 1-2) and a linear SVM."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    model = make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        ),
        LinearSVC(random_state=0),
    )
    start = time.perf_counter()
    model.fit([text for text, _ in train], [intent for _, intent in train])
    seconds = time.perf_counter() - start
    scores = model.decision_function([text for text, _ in test])
    predictions = []
    for (_, gold), row in zip(test, scores, strict=True):
        ranked = sorted(range(len(row)), key=lambda i: row[i], reverse=True)
        margin = float(row[ranked[0]] - row[ranked[1]])
        top = str(model.classes_[ranked[0]])
        predictions.append(Parsed(gold, top, float(row[ranked[0]]), margin, top))
    return predictions, seconds


# --- Data ------------------------------------------------------------------------


def _examples(data_file: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [(e.get("text"), e.get("intent")) for e in load_data(str(data_file)).intent_examples]


def _read_csv(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["utterance"], row["intent"]) for row in csv.DictReader(handle)]


def _folds(data_file: Path, k: int) -> list[tuple[Any, list[tuple[str, str | None]]]]:
    """(training data, held-out (text, intent)) per fold; stratified, the same folds every run."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from sklearn.model_selection import StratifiedKFold

    data = load_data(str(data_file))
    examples = data.intent_examples
    labels = [e.get("intent") for e in examples]
    folds = []
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=42)
    for train_index, test_index in splitter.split(labels, labels):
        training = TrainingData(
            training_examples=[examples[i] for i in train_index],
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
        )
        held_out: list[tuple[str, str | None]] = [
            (examples[i].get("text"), labels[i]) for i in test_index
        ]
        folds.append((training, held_out))
    return folds


def _fold_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _off_topic_sets(shared: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Off-topic questions, minus any the bot covers or was trained on; and how many were dropped."""
    trained = {_fold_key(text) for text, _ in _examples(NLU_DATA)}
    rows = _read_csv(shared / WIKIT / "test_dataset.csv")
    wikit = [
        text
        for text, intent in rows
        if intent not in WIKIT_IN_SCOPE_INTENTS and _fold_key(text) not in trained
    ]
    random.Random(7).shuffle(wikit)
    own = _read_off_topic(None)["hors_perimetre"]
    kept_own = [text for text in own if _fold_key(text) not in trained]
    sets = {"wikit_echantillon": wikit[:WIKIT_OFF_TOPIC_SAMPLE], "hors_perimetre": kept_own}
    return sets, {
        "wikit_echantillon": len(rows) - len(wikit),
        "hors_perimetre": len(own) - len(kept_own),
    }


# --- Metrics ---------------------------------------------------------------------


def _scores(predictions: list[Parsed]) -> dict[str, float]:
    """Accuracy, macro-F1 over the true intents, and accuracy of the least confident 10 %."""
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
        "guarded": sum(p.top == FALLBACK for p in predictions) / len(predictions),
    }


def _in_scope(predictions: list[Parsed], threshold: float, ambiguity: float) -> dict[str, float]:
    right = wrong = 0
    for p in predictions:
        if p.answered(threshold, ambiguity):
            right += p.top == p.gold
            wrong += p.top != p.gold
    n = len(predictions) or 1
    return {"right": right / n, "wrong": wrong / n, "fallback": (n - right - wrong) / n}


def _false_answers(predictions: list[Parsed], threshold: float, ambiguity: float) -> float:
    answered = [
        p for p in predictions if p.answered(threshold, ambiguity) and p.top not in REFUSALS
    ]
    return len(answered) / (len(predictions) or 1)


def _confused(predictions: list[Parsed]) -> list[tuple[str, str, int]]:
    pairs = Counter((p.gold, p.top) for p in predictions if p.top != p.gold)
    return [(str(g), t, n) for (g, t), n in pairs.most_common(CONFUSED_PAIRS)]


def _pack(predictions: list[Parsed]) -> list[list[Any]]:
    return [
        [p.gold, p.top, round(p.confidence, 5), round(p.margin, 5), p.final] for p in predictions
    ]


def _unpack(rows: list[list[Any]]) -> list[Parsed]:
    return [Parsed(*row) for row in rows]


# --- Sections --------------------------------------------------------------------


def _section_wikit(ctx: Context) -> dict[str, Any]:
    base = ctx.shared / WIKIT
    train_file = base / "train.rasa3.yml"
    train = _examples(train_file)
    test: list[tuple[str, str | None]] = list(_read_csv(base / "test_dataset.csv"))
    results: dict[str, Any] = {}
    for pipeline in ctx.pipelines_for("wikit"):
        if pipeline.text is None:
            predictions, seconds = _tfidf(train, test)
        else:
            model, seconds = _train(ctx, pipeline, train_file, f"wikit-{pipeline.name}")
            predictions = _parse_model(model, test)
        results[pipeline.name] = {"train_s": seconds, **_scores(predictions)}
    return {"meta": {"train": len(train), "test": len(test)}, "results": results}


def _cross_validate(ctx: Context, section: str, data_file: Path) -> dict[str, Any]:
    """Every pipeline on the same stratified folds, fold after fold (load changes hit all alike)."""
    folds = _folds(data_file, ctx.folds)
    pipelines = ctx.pipelines_for(section)
    predictions: dict[str, list[Parsed]] = {p.name: [] for p in pipelines}
    seconds: dict[str, list[float]] = {p.name: [] for p in pipelines}
    for i, (training, held_out) in enumerate(folds):
        print(f"{section} : pli {i + 1}/{len(folds)}", flush=True)
        fold_file = ctx.tmp / f"{section}-fold{i}.yml"
        fold_file.write_text(training.nlu_as_yaml(), encoding="utf-8")
        for pipeline in pipelines:
            if pipeline.text is None:
                train = [(e.get("text"), e.get("intent")) for e in training.intent_examples]
                fold_predictions, fold_seconds = _tfidf(train, held_out)
            else:
                name = f"{section}-{pipeline.name}-{i}"
                model, fold_seconds = _train(ctx, pipeline, fold_file, name)
                fold_predictions = _parse_model(model, held_out)
            predictions[pipeline.name] += fold_predictions
            seconds[pipeline.name].append(fold_seconds)
    results = {
        name: {
            "train_s": statistics.mean(seconds[name]),
            **_scores(predictions[name]),
            "confused": _confused(predictions[name]),
            "predictions": _pack(predictions[name]),
        }
        for name in predictions
    }
    return {
        "meta": {"examples": sum(len(h) for _, h in folds), "folds": ctx.folds},
        "results": results,
    }


def _section_covidflow(ctx: Context) -> dict[str, Any]:
    section = _cross_validate(ctx, "covidflow", ctx.shared / COVIDFLOW / "nlu.rasa3.yml")
    for result in section["results"].values():
        del result["predictions"], result["confused"]
    return section


def _data_sha() -> str:
    """Short hash of data/nlu.yml: the bot's data changes under a long run, and results must say which."""
    return hashlib.sha256(NLU_DATA.read_bytes()).hexdigest()[:10]


def _section_own(ctx: Context) -> dict[str, Any]:
    data_sha = _data_sha()
    section = _cross_validate(ctx, "own", NLU_DATA)
    section["meta"]["data_sha"] = data_sha
    return section


async def _time_parses(agents: dict[str, Any], texts: list[str]) -> dict[str, list[float]]:
    """Milliseconds per parse; the models take turns on each message, so load changes hit all alike."""
    for agent in agents.values():
        for text in texts[:WARM_UP_MESSAGES]:
            await agent.parse_message(text)
    names = list(agents)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i, text in enumerate(texts):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            await agents[name].parse_message(text)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


async def _serve_models(
    models: dict[str, str], texts: list[str], sets: dict[str, list[str]]
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[Parsed]]]]:
    """Loads every model once: parse latencies, then the off-topic questions."""
    from rasa.core.agent import Agent

    agents = {name: Agent.load(model) for name, model in models.items()}
    print(f"latence : {len(texts)} messages par modèle…", flush=True)
    times = await _time_parses(agents, texts)
    off_topic: dict[str, dict[str, list[Parsed]]] = {}
    for name, agent in agents.items():
        off_topic[name] = {}
        for set_name, sentences in sets.items():
            off_topic[name][set_name] = await _parse_all(agent, [(s, None) for s in sentences])
    return times, off_topic


def _section_latency(ctx: Context) -> dict[str, Any]:
    data_sha = _data_sha()
    models: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for pipeline in ctx.pipelines_for("latency", rasa_only=True):
        name = pipeline.name
        models[name], seconds[name] = _train(ctx, pipeline, NLU_DATA, f"full-{name}")
    utterances = [text for text, _ in _read_csv(ctx.shared / WIKIT / "test_dataset.csv")]
    texts = [utterances[i % len(utterances)] for i in range(LATENCY_MESSAGES)]
    sets, dropped = _off_topic_sets(ctx.shared)
    times, off_topic = asyncio.run(_serve_models(models, texts, sets))
    results = {
        name: {
            "train_s": seconds[name],
            "p50": statistics.median(times[name]),
            "p95": statistics.quantiles(times[name], n=100)[94],
            "off_topic": {k: _pack(v) for k, v in off_topic[name].items()},
        }
        for name in models
    }
    meta = {
        "messages": len(texts),
        "off_topic": {k: len(v) for k, v in sets.items()},
        "dropped": dropped,
        "data_sha": data_sha,
    }
    return {"meta": meta, "results": results}


RUNNERS = {
    "wikit": _section_wikit,
    "covidflow": _section_covidflow,
    "own": _section_own,
    "latency": _section_latency,
}


# --- Report ----------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _section_dates(section: str, values: dict[str, Any], configs: dict[str, Any]) -> str:
    """When a section ran; per pipeline when some of its columns were measured later (`--configs`)."""
    dates: dict[str, list[str]] = {}
    for name, result in values["results"].items():
        dates.setdefault(result.get("date", values["date"]), []).append(configs[name]["label"])
    if len(dates) <= 1:
        return f"{section} le {values['date']} (charge {values['load']:.1f})"
    runs = " ; ".join(f"{', '.join(labels)} le {date}" for date, labels in sorted(dates.items()))
    return f"{section} ({runs} ; charge {values['load']:.1f} au dernier passage)"


def _render(state: dict[str, Any]) -> str:
    configs: dict[str, dict[str, Any]] = state["configs"]
    sections: dict[str, Any] = state["sections"]
    names = list(configs)

    def get(section: str, name: str, key: str) -> Any:
        result = sections.get(section, {}).get("results", {}).get(name, {})
        if key == "guarded" and key not in result and "predictions" in result:
            # Sections measured before this share was recorded still have their predictions.
            predictions = _unpack(result["predictions"])
            return sum(p.top == FALLBACK for p in predictions) / len(predictions)
        return result.get(key)

    def shown_in(section: str, name: str) -> bool:
        return name in sections.get(section, {}).get("results", {})

    def threshold_of(name: str) -> tuple[float, float]:
        return configs[name]["threshold"], configs[name]["ambiguity"]

    rows: list[tuple[str, list[str]]] = []

    def add(label: str, values: list[str]) -> None:
        if any(v != "—" for v in values):
            rows.append((label, values))

    def scored(section: str, title: str) -> None:
        meta = sections.get(section, {}).get("meta", {})
        add(f"{title} — exactitude", [_num(get(section, n, "accuracy")) for n in names])
        add(f"{title} — F1 macro", [_num(get(section, n, "macro_f1")) for n in names])
        add(
            f"{title} — exactitude des 10 % les moins sûres",
            [_num(get(section, n, "low_accuracy")) for n in names],
        )
        add(
            f"{title} — renvoyés au repli par le garde",
            [
                _num(get(section, n, "guarded")) if get(section, n, "guarded") else "—"
                for n in names
            ],
        )
        suffix = " par pli" if "folds" in meta else ""
        add(
            f"{title} — entraînement{suffix} (s)",
            [_num(get(section, n, "train_s"), 0) for n in names],
        )

    wikit_meta = sections.get("wikit", {}).get("meta", {})
    scored(
        "wikit",
        f"Wikit (entraînement {wikit_meta.get('train', '?')}, test {wikit_meta.get('test', '?')})",
    )
    cov_meta = sections.get("covidflow", {}).get("meta", {})
    scored(
        "covidflow",
        f"covidflow, VC {cov_meta.get('folds', '?')} plis ({cov_meta.get('examples', '?')} ex.)",
    )
    own_meta = sections.get("own", {}).get("meta", {})
    own_title = (
        f"data/nlu.yml, VC {own_meta.get('folds', '?')} plis ({own_meta.get('examples', '?')} ex.)"
    )
    scored("own", own_title)
    in_scope = {
        n: _in_scope(_unpack(get("own", n, "predictions")), *threshold_of(n))
        for n in names
        if get("own", n, "predictions") and configs[n]["threshold"] > 0
    }
    for key, label in (
        ("right", "bonne réponse"),
        ("wrong", "mauvaise réponse"),
        ("fallback", "repli"),
    ):
        add(
            f"data/nlu.yml, VC — au seuil configuré : {label}",
            [_num(in_scope[n][key]) if n in in_scope else "—" for n in names],
        )
    points = {n: _operating_point(sections, n, configs[n]) for n in names}
    add(
        "data/nlu.yml, VC — seuil le plus bas gardant le hors-périmètre sous 5 %",
        [f"{points[n][0]:.2f}" if points[n] else "—" for n in names],
    )
    for key, label in (("right", "bonne réponse"), ("wrong", "mauvaise réponse")):
        add(
            f"data/nlu.yml, VC — à ce seuil : {label}",
            [_num(points[n][1][key]) if points[n] else "—" for n in names],
        )
    add(
        "Modèle complet data/nlu.yml — entraînement (s)",
        [_num(get("latency", n, "train_s"), 0) for n in names],
    )
    stock_p = {q: get("latency", "stock", q) for q in ("p50", "p95")}
    for q in ("p50", "p95"):
        add(f"Latence d'analyse {q} (ms)", [_num(get("latency", n, q), 1) for n in names])
        if stock_p[q]:
            add(
                f"Latence {q} / stock",
                [
                    _num(get("latency", n, q) / stock_p[q], 2) if get("latency", n, q) else "—"
                    for n in names
                ],
            )
    add(
        "Seuil du FallbackClassifier (ambiguïté)",
        [
            f"{configs[n]['threshold']:.2f} ({configs[n]['ambiguity']:.2f})"
            if configs[n]["threshold"] > 0
            else "—"
            for n in names
        ],
    )
    lat_meta = sections.get("latency", {}).get("meta", {})
    for set_name, size in lat_meta.get("off_topic", {}).items():
        add(
            f"Hors périmètre, fausses réponses au seuil configuré : {set_name} ({size})",
            [
                _num(
                    _false_answers(
                        _unpack(get("latency", n, "off_topic")[set_name]), *threshold_of(n)
                    )
                )
                if shown_in("latency", n)
                else "—"
                for n in names
            ],
        )

    lines = [
        "# Compréhension (NLU) : le pipeline du projet face au pipeline Rasa d'origine",
        "",
        f"Rasa {version('rasa')}, Python {platform.python_version()}, {os.cpu_count()} cœurs "
        "(partagés avec d'autres travaux : les temps sont indicatifs). Sections : "
        + ", ".join(_section_dates(s, v, configs) for s, v in sections.items())
        + ".",
        "",
        "Colonnes : "
        + " ; ".join(
            f"**{configs[n]['label']}** = {configs[n]['source']} (`{configs[n]['sha']}`)"
            for n in names
        )
        + ".",
        "",
        "| Mesure | " + " | ".join(configs[n]["label"] for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]

    stale = [
        n
        for n in names
        if len({v["results"][n]["sha"] for v in sections.values() if n in v["results"]}) > 1
    ]
    data_versions = {
        v["meta"]["data_sha"] for v in sections.values() if "data_sha" in v.get("meta", {})
    }
    if data_versions:
        lines += ["", "data/nlu.yml : version `" + "`, `".join(sorted(data_versions)) + "`."]
    if len(data_versions) > 1:
        lines += ["**Attention** : data/nlu.yml a changé entre les sections own et latency."]
    if stale:
        lines += [
            "",
            "**Attention** : configuration modifiée entre deux sections pour "
            + ", ".join(stale)
            + ".",
        ]

    lines += _criteria(sections, names, configs)
    lines += _confusion_table(sections, names, configs)
    lines += _sweep_tables(sections, names, configs)
    lines += _notes(sections)
    return "\n".join(lines) + "\n"


def _criteria(sections: dict[str, Any], names: list[str], configs: dict[str, Any]) -> list[str]:
    """The issue's bar: beat stock on both external sets and on the own CV, latency within 20 %."""

    def value(section: str, name: str, key: str) -> float | None:
        return sections.get(section, {}).get("results", {}).get(name, {}).get(key)

    lines: list[str] = []
    for name in names:
        if name in ("stock", "tfidf", "covidflow"):
            continue
        checks = []
        for section, title in (
            ("wikit", "Wikit"),
            ("covidflow", "covidflow"),
            ("own", "data/nlu.yml"),
        ):
            for key, what in (("accuracy", "exactitude"), ("macro_f1", "F1 macro")):
                ours, stock = value(section, name, key), value(section, "stock", key)
                if ours is not None and stock is not None:
                    mark = "oui" if ours > stock else "non"
                    checks.append(
                        f"{title} {what} {ours:.3f} contre {stock:.3f} pour stock ({mark})"
                    )
        ours_point = _operating_point(sections, name, configs[name])
        stock_point = (
            _operating_point(sections, "stock", configs["stock"]) if "stock" in configs else None
        )
        if ours_point and stock_point:
            ours_right, stock_right = ours_point[1]["right"], stock_point[1]["right"]
            mark = "oui" if ours_right > stock_right else "non"
            checks.append(
                f"bonnes réponses avec moins de 5 % de fausses réponses hors périmètre "
                f"{ours_right:.3f} contre {stock_right:.3f} pour stock ({mark})"
            )
        ours_wikit = value("wikit", name, "accuracy")
        if ours_wikit is not None:
            mark = "oui" if ours_wikit >= TFIDF_REFERENCE_ACCURACY else "non"
            checks.append(f"Wikit ≥ {TFIDF_REFERENCE_ACCURACY} de TF-IDF + SVM ({mark})")
        ours_p, stock_p = value("latency", name, "p50"), value("latency", "stock", "p50")
        if ours_p and stock_p:
            ratio = ours_p / stock_p
            mark = "oui" if ratio <= MAX_LATENCY_RATIO else "non"
            checks.append(f"latence p50 ×{ratio:.2f} ≤ ×{MAX_LATENCY_RATIO} ({mark})")
        off_topic = value("latency", name, "off_topic") or {}
        for set_name, packed in off_topic.items():
            rate = _false_answers(
                _unpack(packed), configs[name]["threshold"], configs[name]["ambiguity"]
            )
            mark = "oui" if rate < MAX_FALSE_ANSWERS else "non"
            checks.append(
                f"hors périmètre {set_name} {rate:.1%} < {MAX_FALSE_ANSWERS:.0%} ({mark})"
            )
        if checks:
            lines.append(f"- **{configs[name]['label']}** : " + " ; ".join(checks) + ".")
    return ["", "## Critères de l'issue", "", *lines] if lines else []


def _confusion_table(
    sections: dict[str, Any], names: list[str], configs: dict[str, Any]
) -> list[str]:
    results = sections.get("own", {}).get("results", {})
    shown = [n for n in names if n in results]
    if not shown:
        return []
    counts: dict[str, dict[tuple[str, str], int]] = {
        n: {(g, t): c for g, t, c in results[n]["confused"]} for n in shown
    }
    full: dict[str, Counter[tuple[str, str]]] = {
        n: Counter(
            (str(p.gold), p.top) for p in _unpack(results[n]["predictions"]) if p.gold != p.top
        )
        for n in shown
    }
    pairs = sorted(
        {pair for n in shown for pair in counts[n]},
        key=lambda pair: (-max(full[n][pair] for n in shown), pair),
    )[:CONFUSED_PAIRS]
    lines = [
        "",
        "## Intentions les plus confondues (data/nlu.yml, validation croisée)",
        "",
        "Attendue → prédite, nombre d'exemples ; les paires les plus fréquentes, tous pipelines confondus.",
        "",
        "| attendue | prédite | " + " | ".join(configs[n]["label"] for n in shown) + " |",
        "|---|---|" + "---:|" * len(shown),
    ]
    lines += [
        f"| {g} | {t} | " + " | ".join(str(full[n][(g, t)]) for n in shown) + " |" for g, t in pairs
    ]
    return lines


def _thresholds(config: dict[str, Any]) -> list[float]:
    """The swept thresholds, plus the pipeline's configured one."""
    return sorted({*SWEEP, config["threshold"]})


def _operating_point(
    sections: dict[str, Any], name: str, config: dict[str, Any]
) -> tuple[float, dict[str, float]] | None:
    """The lowest swept threshold keeping every off-topic set under 5 %, and the in-scope shares there.

    Each pipeline at its own best threshold for the same off-topic bar: the
    fair comparison, since confidences of different classifiers are not on
    the same scale.
    """
    own = sections.get("own", {}).get("results", {}).get(name)
    latency = sections.get("latency", {}).get("results", {}).get(name)
    if not own or not latency or "predictions" not in own:
        return None
    ambiguity = config["ambiguity"]
    in_scope = _unpack(own["predictions"])
    off_topic = [_unpack(v) for v in latency["off_topic"].values()]
    for threshold in _thresholds(config):
        if all(_false_answers(v, threshold, ambiguity) < MAX_FALSE_ANSWERS for v in off_topic):
            return threshold, _in_scope(in_scope, threshold, ambiguity)
    return None


def _sweep_tables(sections: dict[str, Any], names: list[str], configs: dict[str, Any]) -> list[str]:
    own = sections.get("own", {}).get("results", {})
    latency = sections.get("latency", {}).get("results", {})
    lines: list[str] = []
    for name in names:
        if name not in own or name not in latency or configs[name]["threshold"] <= 0:
            continue
        ambiguity = configs[name]["ambiguity"]
        in_scope = _unpack(own[name]["predictions"])
        off_topic = {k: _unpack(v) for k, v in latency[name]["off_topic"].items()}
        lines += [
            "",
            f"## Seuil du FallbackClassifier : {configs[name]['label']} (ambiguïté {ambiguity:.2f})",
            "",
            "Dans le périmètre : validation croisée de data/nlu.yml. Hors périmètre : le modèle "
            "entraîné sur tout data/nlu.yml ; une fausse réponse est un sujet du bot (ni "
            "`hors_sujet` ni le repli) donné au-dessus du seuil.",
            "",
            "| seuil | bonne réponse | mauvaise réponse | repli | "
            + " | ".join(f"fausses réponses {k}" for k in off_topic)
            + " |",
            "|---:|---:|---:|---:|" + "---:|" * len(off_topic),
        ]
        for threshold in _thresholds(configs[name]):
            shares = _in_scope(in_scope, threshold, ambiguity)
            rates = [_false_answers(v, threshold, ambiguity) for v in off_topic.values()]
            mark = " (configuré)" if threshold == configs[name]["threshold"] else ""
            lines.append(
                f"| {threshold:.2f}{mark} | {shares['right']:.3f} | {shares['wrong']:.3f} | "
                f"{shares['fallback']:.3f} | " + " | ".join(f"{r:.3f}" for r in rates) + " |"
            )
        point = _operating_point(sections, name, configs[name])
        lines += [
            "",
            f"Seuil le plus bas gardant chaque jeu hors périmètre sous {MAX_FALSE_ANSWERS:.0%} "
            f"de fausses réponses : {'aucun' if point is None else f'{point[0]:.2f}'}.",
        ]
    return lines


def _notes(sections: dict[str, Any]) -> list[str]:
    dropped = sections.get("latency", {}).get("meta", {}).get("dropped", {})
    return [
        "",
        "## Méthode",
        "",
        "- Prédiction notée : l'intention en tête du classifieur, avant le FallbackClassifier "
        "(le seuil est appliqué ensuite) ; un message que le garde `NotUnderstoodGuard` renvoie "
        "au repli compte comme une erreur.",
        "- Validation croisée : plis stratifiés par intention (graine 42), les mêmes pour "
        "tous les pipelines ; entraînements avec le cache de Rasa désactivé.",
        "- Exactitude des 10 % les moins sûres : prédictions triées par confiance (marge "
        "de l'SVM pour TF-IDF), exactitude sur les 10 % du bas.",
        "- Latence : chaque modèle entraîné sur tout data/nlu.yml analyse les mêmes messages "
        "(le test Wikit en boucle), à tour de rôle, après 10 messages de chauffe.",
        "- Hors périmètre : échantillon (graine 7) du test Wikit sans l'intention "
        "« découvrir le champ d'action du bot » (le bot y répond par `demander_aide`) ni les "
        "phrases présentes dans data/nlu.yml "
        f"({dropped.get('wikit_echantillon', '?')} lignes écartées), et "
        f"bench/data/hors_perimetre.txt moins ses phrases présentes dans data/nlu.yml "
        f"({dropped.get('hors_perimetre', '?')} écartée(s)).",
        "- stock : le pipeline que Rasa entraîne pour un projet `rasa init` (son "
        "`default_config.yml`, avec `constrain_similarities: true`), langue `fr` ; sans "
        "graine fixée, ses chiffres varient d'un entraînement à l'autre.",
    ]


# --- Main ------------------------------------------------------------------------


def _load_state(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"configs": {}, "sections": {}}


def _merge(state: dict[str, Any], section: str, result: dict[str, Any], ctx: Context) -> None:
    for pipeline in ctx.pipelines:
        threshold, ambiguity = pipeline.fallback()
        state["configs"][pipeline.name] = {
            "label": pipeline.label,
            "source": pipeline.source,
            "sha": pipeline.sha,
            "threshold": threshold,
            "ambiguity": ambiguity,
        }
    now = dt.datetime.now().isoformat(timespec="minutes")
    for name, values in result["results"].items():
        values["sha"] = state["configs"][name]["sha"]
        values["date"] = now
    previous = state["sections"].get(section, {}).get("results", {})
    state["sections"][section] = {
        "date": now,
        "load": os.getloadavg()[0],
        "meta": result["meta"],
        "results": {**previous, **result["results"]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nlu_benchmark.md")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="sections à lancer")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=list(DEFAULT_CONFIGS),
        help="projet, stock, covidflow, tfidf ou un fichier",
    )
    args = parser.parse_args()
    if not (args.shared / WIKIT).is_dir():
        raise SystemExit(f"--shared : {args.shared / WIKIT} est introuvable.")

    # Every training must train: Rasa's cache would reuse a previous run's components.
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.log_utils import configure_structlog

    # Unconfigured, Rasa's structlog prints a debug line per parse: noise, and time measured.
    configure_structlog(logging.WARNING)

    state_file = args.out.with_suffix(".json.tmp")
    state = _load_state(state_file) if args.only else {"configs": {}, "sections": {}}
    pipelines = [_resolve(name, args.shared) for name in args.configs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nlu_benchmark_") as tmp:
        os.environ["RASA_CACHE_DIRECTORY"] = str(Path(tmp) / "cache")
        ctx = Context(args.shared, args.folds, pipelines, Path(tmp))
        for section in [s for s in SECTIONS if s in (args.only or SECTIONS)]:
            print(f"== {section} ==", flush=True)
            _merge(state, section, RUNNERS[section](ctx), ctx)
            # Saved after each section: a later failure keeps what was measured.
            state_file.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
            args.out.write_text(_render(state), encoding="utf-8")
        shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
    report = _render(state)
    print(report)
    args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
