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
- `own`: the same on every NLU file under `data/`, with the most confused intent pairs;
- `latency`: trains each pipeline on all the NLU data of `data/` (training
  time), parses 500 messages with each model in turn (p50, p95), then parses
  off-topic questions (a sample of the Wikit test split,
  `bench/data/hors_perimetre.txt` and the larger held-out
  `bench/data/hors_perimetre_evaluation.txt`) and counts confident answers on
  a topic, and the short messages of `bench/data/messages_courts.tsv`
  ("merci", "a+", "👍") and counts those that get their intent.

Folds, parsing, scoring, the off-topic sets and the threshold sweep come from
`evaluation.py`, shared with `fallback_threshold.py`. Scores use the
classifier's own best intent, before the FallbackClassifier; the threshold is
applied afterwards, so that every threshold can be compared. The benchmark
data is read from `--shared` at run time and never copied here.

Each section's figures are kept next to `--out` (same name, `.json.tmp`), so
that sections run one after another with `--only` end up in one table; a run
without `--only` starts afresh. The table is printed and written to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import evaluation
from evaluation import COVIDFLOW, MAX_FALSE_ANSWERS, NLU_DATA, WIKIT, Item, Prediction

SECTIONS = ("wikit", "covidflow", "own", "latency")
DEFAULT_CONFIGS = ("projet", "stock", "covidflow", "tfidf")
LATENCY_MESSAGES = 500
WARM_UP_MESSAGES = 10
MAX_LATENCY_RATIO = 1.20
# Issue 13's bar for the in-scope questions at the configured threshold.
MIN_RIGHT = 0.85
MAX_WRONG = 0.03
MAX_UNANSWERED = 0.12
TFIDF_REFERENCE_ACCURACY = 0.815
CONFUSED_PAIRS = 10
# The short messages' predictions travel with the off-topic ones until the report splits them.
SHORT = "messages_courts"
# An empty cell of the table; a row with nothing but these is left out.
EMPTY = "—"
# The in-scope shares (`evaluation.Shares`) the report shows, in order.
SHARE_LABELS = (
    ("right", "bonne réponse"),
    ("wrong", "mauvais sujet"),
    ("refused", "refusé comme hors sujet"),
    ("not_understood", "non compris"),
    ("unanswered", "refusé + non compris"),
)


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
        return evaluation.fallback_setting(self.text)


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


def _resolve(name: str, shared: Path) -> Pipeline:
    if name == "projet":
        return Pipeline(name, "projet", "config.yml", evaluation.CONFIG.read_text("utf-8"))
    if name == "stock":
        return Pipeline(
            name,
            "stock",
            f"Rasa {version('rasa')} `rasa init`",
            evaluation.stock_config("nlu_benchmark_stock", policies=False),
        )
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
    print(f"  entraînement {pipeline.name} sur {data.name}…", flush=True)
    return evaluation.train(pipeline.text or "", data, ctx.tmp, name)


def _parse_model(model: str, items: list[Item]) -> list[Prediction]:
    """Parses the items with a trained model, then deletes the model."""
    predictions = evaluation.parse_with_model(model, {"test": items})["test"]
    Path(model).unlink(missing_ok=True)
    return predictions


def _tfidf(train: list[tuple[str, str]], test: list[Item]) -> tuple[list[Prediction], float]:
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
        suggestions = tuple(str(model.classes_[i]) for i in ranked[: evaluation.SUGGESTIONS])
        predictions.append(Prediction(gold, top, float(row[ranked[0]]), margin, top, suggestions))
    return predictions, seconds


# --- Sections --------------------------------------------------------------------


def _section_wikit(ctx: Context) -> dict[str, Any]:
    base = ctx.shared / WIKIT
    train_file = base / "train.rasa3.yml"
    train = evaluation.examples(train_file)
    test: list[Item] = list(evaluation.read_csv(base / "test_dataset.csv"))
    results: dict[str, Any] = {}
    for pipeline in ctx.pipelines_for("wikit"):
        if pipeline.text is None:
            predictions, seconds = _tfidf(train, test)
        else:
            model, seconds = _train(ctx, pipeline, train_file, f"wikit-{pipeline.name}")
            predictions = _parse_model(model, test)
        results[pipeline.name] = {"train_s": seconds, **evaluation.scores(predictions)}
    return {"meta": {"train": len(train), "test": len(test)}, "results": results}


def _cross_validate(ctx: Context, section: str, data_file: Path) -> dict[str, Any]:
    """Every pipeline on the same stratified folds, fold after fold (load changes hit all alike)."""
    folds = evaluation.folds(data_file, ctx.folds)
    pipelines = ctx.pipelines_for(section)
    predictions: dict[str, list[Prediction]] = {p.name: [] for p in pipelines}
    seconds: dict[str, list[float]] = {p.name: [] for p in pipelines}
    for i, fold in enumerate(folds):
        print(f"{section} : pli {i + 1}/{len(folds)}", flush=True)
        fold_file = fold.write_training(ctx.tmp / f"{section}-fold{i}.yml")
        for pipeline in pipelines:
            if pipeline.text is None:
                fold_predictions, fold_seconds = _tfidf(fold.training_pairs(), fold.held_out)
            else:
                name = f"{section}-{pipeline.name}-{i}"
                model, fold_seconds = _train(ctx, pipeline, fold_file, name)
                fold_predictions = _parse_model(model, fold.held_out)
            predictions[pipeline.name] += fold_predictions
            seconds[pipeline.name].append(fold_seconds)
    results = {
        name: {
            "train_s": statistics.mean(seconds[name]),
            **evaluation.scores(predictions[name]),
            "confused": [
                [gold, top, count]
                for (gold, top), count in evaluation.confusions(predictions[name]).most_common(
                    CONFUSED_PAIRS
                )
            ],
            "predictions": [p.to_row() for p in predictions[name]],
        }
        for name in predictions
    }
    return {
        "meta": {"examples": sum(len(f.held_out) for f in folds), "folds": ctx.folds},
        "results": results,
    }


def _section_covidflow(ctx: Context) -> dict[str, Any]:
    section = _cross_validate(ctx, "covidflow", ctx.shared / COVIDFLOW / "nlu.rasa3.yml")
    for result in section["results"].values():
        del result["predictions"], result["confused"]
    return section


def _data_sha() -> str:
    """Short hash of the NLU data: it changes under a long run, and results must say which."""
    return evaluation.data_sha(NLU_DATA)


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
) -> tuple[dict[str, list[float]], dict[str, dict[str, list[Prediction]]]]:
    """Loads every model once: parse latencies, then the off-topic questions."""
    from rasa.core.agent import Agent

    agents = {name: Agent.load(model) for name, model in models.items()}
    print(f"latence : {len(texts)} messages par modèle…", flush=True)
    times = await _time_parses(agents, texts)
    off_topic: dict[str, dict[str, list[Prediction]]] = {}
    short = evaluation.short_messages()
    for name, agent in agents.items():
        off_topic[name] = {}
        for set_name, sentences in sets.items():
            off_topic[name][set_name] = await evaluation.parse_all(
                agent, [(s, None) for s in sentences]
            )
        off_topic[name][SHORT] = await evaluation.parse_all(agent, short)
    return times, off_topic


def _section_latency(ctx: Context) -> dict[str, Any]:
    data_sha = _data_sha()
    models: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for pipeline in ctx.pipelines_for("latency", rasa_only=True):
        name = pipeline.name
        models[name], seconds[name] = _train(ctx, pipeline, NLU_DATA, f"full-{name}")
    utterances = [text for text, _ in evaluation.read_csv(ctx.shared / WIKIT / "test_dataset.csv")]
    texts = [utterances[i % len(utterances)] for i in range(LATENCY_MESSAGES)]
    off_topic_sets = evaluation.off_topic_sets(ctx.shared)
    times, off_topic = asyncio.run(_serve_models(models, texts, off_topic_sets.sets))
    results = {
        name: {
            "train_s": seconds[name],
            "p50": statistics.median(times[name]),
            "p95": statistics.quantiles(times[name], n=100)[94],
            "off_topic": {
                k: [p.to_row() for p in v] for k, v in off_topic[name].items() if k != SHORT
            },
            "short": [p.to_row() for p in off_topic[name][SHORT]],
        }
        for name in models
    }
    meta = {
        "messages": len(texts),
        "short": len(evaluation.short_messages()),
        "off_topic": {k: len(v) for k, v in off_topic_sets.sets.items()},
        "dropped": off_topic_sets.dropped,
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


@dataclass(frozen=True)
class Results:
    """The saved figures (`--out`'s `.json.tmp`), read for the report."""

    configs: dict[str, dict[str, Any]]
    sections: dict[str, Any]

    @property
    def names(self) -> list[str]:
        """The pipelines, in column order."""
        return list(self.configs)

    def meta(self, section: str) -> dict[str, Any]:
        """What a section measured on (sizes, folds, data version)."""
        return self.sections.get(section, {}).get("meta", {})

    def of(self, section: str) -> dict[str, Any]:
        """Each pipeline's figures in a section."""
        return self.sections.get(section, {}).get("results", {})

    def value(self, section: str, name: str, key: str) -> Any:
        """One figure of one pipeline in one section (None when not measured)."""
        result = self.of(section).get(name, {})
        if key == "guarded" and key not in result and "predictions" in result:
            # Sections measured before this share was recorded still have their predictions.
            return evaluation.guarded(self.predictions(section, name))
        return result.get(key)

    def predictions(self, section: str, name: str) -> list[Prediction]:
        """A pipeline's cross-validation predictions in a section."""
        return [Prediction.from_row(row) for row in self.of(section)[name]["predictions"]]

    def off_topic(self, name: str) -> dict[str, list[Prediction]]:
        """A pipeline's predictions on each off-topic set (section `latency`)."""
        packed = self.of("latency")[name]["off_topic"]
        return {k: [Prediction.from_row(row) for row in v] for k, v in packed.items()}

    def setting(self, name: str) -> tuple[float, float]:
        """A pipeline's FallbackClassifier threshold and ambiguity threshold."""
        return self.configs[name]["threshold"], self.configs[name]["ambiguity"]

    def sweep(self, name: str) -> list[evaluation.SweepRow] | None:
        """The threshold sweep of a pipeline measured in both `own` and `latency`."""
        own, latency = self.of("own").get(name), self.of("latency").get(name)
        if name not in self.configs or not own or not latency or "predictions" not in own:
            return None
        threshold, ambiguity = self.setting(name)
        return evaluation.sweep(
            self.predictions("own", name),
            self.off_topic(name),
            evaluation.thresholds(threshold),
            ambiguity,
        )

    def operating_point(self, name: str) -> evaluation.SweepRow | None:
        """The lowest swept threshold keeping every off-topic set under 5 %, with its shares."""
        rows = self.sweep(name)
        return None if rows is None else evaluation.operating_point(rows)


Row = tuple[str, list[str]]


def _num(value: float | None, digits: int = 3) -> str:
    return EMPTY if value is None else f"{value:.{digits}f}"


def _section_dates(section: str, values: dict[str, Any], configs: dict[str, Any]) -> str:
    """When a section ran; per pipeline when some of its columns were measured later (`--configs`)."""
    dates: dict[str, list[str]] = {}
    for name, result in values["results"].items():
        dates.setdefault(result.get("date", values["date"]), []).append(configs[name]["label"])
    if len(dates) <= 1:
        return f"{section} le {values['date']} (charge {values['load']:.1f})"
    runs = " ; ".join(f"{', '.join(labels)} le {date}" for date, labels in sorted(dates.items()))
    return f"{section} ({runs} ; charge {values['load']:.1f} au dernier passage)"


def _header(results: Results) -> list[str]:
    """Title, when each section ran, and what each column is."""
    configs = results.configs
    return [
        "# Compréhension (NLU) : le pipeline du projet face au pipeline Rasa d'origine",
        "",
        f"Rasa {version('rasa')}, Python {platform.python_version()}, {os.cpu_count()} cœurs "
        "(partagés avec d'autres travaux : les temps sont indicatifs). Sections : "
        + ", ".join(_section_dates(s, v, configs) for s, v in results.sections.items())
        + ".",
        "",
        "Colonnes : "
        + " ; ".join(
            f"**{configs[n]['label']}** = {configs[n]['source']} (`{configs[n]['sha']}`)"
            for n in results.names
        )
        + ".",
    ]


def _score_rows(results: Results, section: str, title: str) -> list[Row]:
    """Accuracy, macro-F1, least confident 10 %, guard and training time of one section."""
    names = results.names

    def values(key: str, digits: int = 3) -> list[str]:
        return [_num(results.value(section, n, key), digits) for n in names]

    guarded = [results.value(section, n, "guarded") for n in names]
    suffix = " par pli" if "folds" in results.meta(section) else ""
    return [
        (f"{title} — exactitude", values("accuracy")),
        (f"{title} — F1 macro", values("macro_f1")),
        (f"{title} — exactitude des 10 % les moins sûres", values("low_accuracy")),
        (
            f"{title} — renvoyés au repli par le garde",
            [_num(g) if g else EMPTY for g in guarded],
        ),
        (f"{title} — entraînement{suffix} (s)", values("train_s", 0)),
    ]


def _threshold_rows(results: Results) -> list[Row]:
    """In-scope shares at the configured threshold and at the operating point."""
    names = results.names
    measured = [
        n
        for n in names
        if results.value("own", n, "predictions") and results.configs[n]["threshold"] > 0
    ]
    predictions = {n: results.predictions("own", n) for n in measured}
    configured = {n: evaluation.in_scope(predictions[n], *results.setting(n)) for n in measured}
    size = len(evaluation.questions(next(iter(predictions.values()), [])))
    title = f"data/ (NLU), VC, questions dans le périmètre ({size}) — au seuil configuré"

    def shares(key: str, at: dict[str, evaluation.Shares | None]) -> list[str]:
        return [_num(getattr(at[n], key)) if at.get(n) else EMPTY for n in names]

    rows: list[Row] = [
        (f"{title} : {label}", shares(key, dict(configured))) for key, label in SHARE_LABELS
    ]
    trained = {
        n: evaluation.false_answers(
            evaluation.trained_off_topic(predictions[n]), *results.setting(n)
        )
        for n in measured
    }
    off_size = len(evaluation.trained_off_topic(next(iter(predictions.values()), [])))
    rows.append(
        (
            f"data/ (NLU), VC, exemples `hors_sujet` ({off_size}) — répondus sur un sujet "
            "au seuil configuré",
            [_num(trained[n]) if n in trained else EMPTY for n in names],
        )
    )
    former = {n: evaluation.all_examples(predictions[n], *results.setting(n)) for n in measured}
    rows.append(
        (
            "data/ (NLU), VC — ancienne définition (tous les exemples, `hors_sujet` compris) "
            "au seuil configuré : bonne / mauvaise / repli",
            [" / ".join(f"{v:.3f}" for v in former[n]) if n in former else EMPTY for n in names],
        )
    )
    points = {n: results.operating_point(n) for n in names}
    rows.append(
        (
            "data/ (NLU), VC — seuil le plus bas gardant le hors-périmètre sous 5 %",
            [f"{point.threshold:.2f}" if point else EMPTY for point in points.values()],
        )
    )
    at_point = {n: point.shares if point else None for n, point in points.items()}
    rows += [
        (f"data/ (NLU), VC — à ce seuil : {label}", shares(key, at_point))
        for key, label in SHARE_LABELS
    ]
    return rows


def _latency_rows(results: Results) -> list[Row]:
    """Training on the whole data, parse latency and its ratio to stock."""
    names = results.names
    rows: list[Row] = [
        (
            "Modèle complet data/ (NLU) — entraînement (s)",
            [_num(results.value("latency", n, "train_s"), 0) for n in names],
        )
    ]
    for q in ("p50", "p95"):
        latencies = [results.value("latency", n, q) for n in names]
        rows.append((f"Latence d'analyse {q} (ms)", [_num(v, 1) for v in latencies]))
        stock = results.value("latency", "stock", q)
        if stock:
            rows.append(
                (f"Latence {q} / stock", [_num(v / stock, 2) if v else EMPTY for v in latencies])
            )
    return rows


def _short_rows(results: Results) -> list[Row]:
    """Short messages ("merci", "a+", "👍") answered with the right intent at the configured threshold."""
    names = results.names
    size = results.meta("latency").get("short")
    values = []
    for n in names:
        rows = results.of("latency").get(n, {}).get("short")
        if rows is None:
            values.append(EMPTY)
            continue
        predictions = [Prediction.from_row(row) for row in rows]
        values.append(_num(evaluation.right_answers(predictions, *results.setting(n))))
    return [(f"Messages courts ({size}) — bonne intention au seuil configuré", values)]


def _fallback_rows(results: Results) -> list[Row]:
    """Each pipeline's FallbackClassifier, and its off-topic false answers there."""
    names = results.names
    rows: list[Row] = [
        (
            "Seuil du FallbackClassifier (ambiguïté)",
            [
                f"{results.configs[n]['threshold']:.2f} ({results.configs[n]['ambiguity']:.2f})"
                if results.configs[n]["threshold"] > 0
                else EMPTY
                for n in names
            ],
        )
    ]
    measured = [n for n in names if n in results.of("latency")]
    off_topic = {n: results.off_topic(n) for n in measured}
    for set_name, size in results.meta("latency").get("off_topic", {}).items():
        rows.append(
            (
                f"Hors périmètre, fausses réponses au seuil configuré : {set_name} ({size})",
                [
                    _num(evaluation.false_answers(off_topic[n][set_name], *results.setting(n)))
                    if n in off_topic
                    else EMPTY
                    for n in names
                ],
            )
        )
    return rows


def _summary_table(results: Results) -> list[str]:
    """The main table: one row per measure, one column per pipeline."""
    wikit, covidflow, own = results.meta("wikit"), results.meta("covidflow"), results.meta("own")
    rows = [
        *_score_rows(
            results,
            "wikit",
            f"Wikit (entraînement {wikit.get('train', '?')}, test {wikit.get('test', '?')})",
        ),
        *_score_rows(
            results,
            "covidflow",
            f"covidflow, VC {covidflow.get('folds', '?')} plis ({covidflow.get('examples', '?')} ex.)",
        ),
        *_score_rows(
            results,
            "own",
            f"data/ (NLU), VC {own.get('folds', '?')} plis ({own.get('examples', '?')} ex.)",
        ),
        *_threshold_rows(results),
        *_short_rows(results),
        *_latency_rows(results),
        *_fallback_rows(results),
    ]
    labels = [results.configs[n]["label"] for n in results.names]
    return [
        "| Mesure | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
        *(
            f"| {label} | " + " | ".join(values) + " |"
            for label, values in rows
            if any(v != EMPTY for v in values)
        ),
    ]


def _warnings(results: Results) -> list[str]:
    """Which data/ (NLU) was measured, and whether data or a config changed between sections."""
    sections = results.sections.values()
    data_versions = {v["meta"]["data_sha"] for v in sections if "data_sha" in v.get("meta", {})}
    stale = [
        n
        for n in results.names
        if len({v["results"][n]["sha"] for v in sections if n in v["results"]}) > 1
    ]
    lines: list[str] = []
    if data_versions:
        lines += ["", "data/ (NLU) : version `" + "`, `".join(sorted(data_versions)) + "`."]
    if len(data_versions) > 1:
        lines += ["**Attention** : data/ (NLU) a changé entre les sections own et latency."]
    if stale:
        lines += [
            "",
            "**Attention** : configuration modifiée entre deux sections pour "
            + ", ".join(stale)
            + ".",
        ]
    return lines


def _criteria(results: Results) -> list[str]:
    """The issue's bar: beat stock on both external sets and on the own CV, latency within 20 %."""
    lines = [
        f"- **{results.configs[name]['label']}** : " + " ; ".join(checks) + "."
        for name in results.names
        if name not in ("stock", "tfidf", "covidflow") and (checks := _checks(results, name))
    ]
    return ["", "## Critères de l'issue", "", *lines] if lines else []


def _checks(results: Results, name: str) -> list[str]:
    """One pipeline's results against each of the issue's criteria."""

    def value(section: str, pipeline: str, key: str) -> Any:
        return results.of(section).get(pipeline, {}).get(key)

    checks = []
    for section, title in (("wikit", "Wikit"), ("covidflow", "covidflow"), ("own", "data/ (NLU)")):
        for key, what in (("accuracy", "exactitude"), ("macro_f1", "F1 macro")):
            ours, stock = value(section, name, key), value(section, "stock", key)
            if ours is not None and stock is not None:
                mark = "oui" if ours > stock else "non"
                checks.append(f"{title} {what} {ours:.3f} contre {stock:.3f} pour stock ({mark})")
    ours_point, stock_point = results.operating_point(name), results.operating_point("stock")
    if ours_point and stock_point:
        ours_right, stock_right = ours_point.shares.right, stock_point.shares.right
        mark = "oui" if ours_right > stock_right else "non"
        checks.append(
            f"bonnes réponses avec moins de 5 % de fausses réponses hors périmètre "
            f"{ours_right:.3f} contre {stock_right:.3f} pour stock ({mark})"
        )
    if results.value("own", name, "predictions") and results.configs[name]["threshold"] > 0:
        shares = evaluation.in_scope(results.predictions("own", name), *results.setting(name))
        for share, what, target, above in (
            (shares.right, "bonne réponse", MIN_RIGHT, True),
            (shares.wrong, "mauvais sujet", MAX_WRONG, False),
            (shares.unanswered, "refusé + non compris", MAX_UNANSWERED, False),
        ):
            mark = "oui" if (share >= target if above else share <= target) else "non"
            sign = "≥" if above else "≤"
            checks.append(f"questions au seuil : {what} {share:.1%} {sign} {target:.0%} ({mark})")
    ours_wikit = value("wikit", name, "accuracy")
    if ours_wikit is not None:
        mark = "oui" if ours_wikit >= TFIDF_REFERENCE_ACCURACY else "non"
        checks.append(f"Wikit ≥ {TFIDF_REFERENCE_ACCURACY} de TF-IDF + SVM ({mark})")
    ours_p, stock_p = value("latency", name, "p50"), value("latency", "stock", "p50")
    if ours_p and stock_p:
        ratio = ours_p / stock_p
        mark = "oui" if ratio <= MAX_LATENCY_RATIO else "non"
        checks.append(f"latence p50 ×{ratio:.2f} ≤ ×{MAX_LATENCY_RATIO} ({mark})")
    ours_p, former_p = value("latency", name, "p50"), value("latency", "ancien", "p50")
    if name != "ancien" and ours_p and former_p:
        ratio = ours_p / former_p
        mark = "oui" if ratio <= MAX_LATENCY_RATIO else "non"
        checks.append(f"latence p50 ×{ratio:.2f} de ancien ≤ ×{MAX_LATENCY_RATIO} ({mark})")
    if value("latency", name, "off_topic"):
        for set_name, predictions in results.off_topic(name).items():
            rate = evaluation.false_answers(predictions, *results.setting(name))
            mark = "oui" if rate < MAX_FALSE_ANSWERS else "non"
            checks.append(
                f"hors périmètre {set_name} {rate:.1%} < {MAX_FALSE_ANSWERS:.0%} ({mark})"
            )
    return checks


def _confusion_table(results: Results) -> list[str]:
    """The most confused intent pairs of the own cross-validation, over every pipeline."""
    own = results.of("own")
    shown = [n for n in results.names if n in own]
    if not shown:
        return []
    full: dict[str, Counter[tuple[str, str]]] = {
        n: evaluation.confusions(results.predictions("own", n)) for n in shown
    }
    pairs = sorted(
        {(g, t) for n in shown for g, t, _ in own[n]["confused"]},
        key=lambda pair: (-max(full[n][pair] for n in shown), pair),
    )[:CONFUSED_PAIRS]
    lines = [
        "",
        "## Intentions les plus confondues (data/ (NLU), validation croisée)",
        "",
        "Attendue → prédite, nombre d'exemples ; les paires les plus fréquentes, tous pipelines confondus.",
        "",
        "| attendue | prédite | " + " | ".join(results.configs[n]["label"] for n in shown) + " |",
        "|---|---|" + "---:|" * len(shown),
    ]
    lines += [
        f"| {g} | {t} | " + " | ".join(str(full[n][(g, t)]) for n in shown) + " |" for g, t in pairs
    ]
    return lines


def _sweep_tables(results: Results) -> list[str]:
    """For each pipeline with a FallbackClassifier: in-scope shares and false answers per threshold."""
    lines: list[str] = []
    for name in results.names:
        threshold, ambiguity = results.setting(name)
        rows = results.sweep(name)
        if rows is None or threshold <= 0:
            continue
        set_names = list(results.of("latency")[name]["off_topic"])
        lines += [
            "",
            f"## Seuil du FallbackClassifier : {results.configs[name]['label']} (ambiguïté {ambiguity:.2f})",
            "",
            "Dans le périmètre : les questions de la validation croisée de data/ (NLU) dont "
            "l'intention n'est pas `hors_sujet` (parts définies dans la Méthode). `hors_sujet` de "
            "data/ : ses exemples hors sujet, validation croisée, part répondue sur un sujet (hors "
            "du critère). Hors périmètre : le modèle entraîné sur tout data/ (NLU) ; une fausse "
            "réponse est un sujet du bot (ni `hors_sujet` ni le repli) donné au-dessus du seuil.",
            "",
            "| seuil | "
            + " | ".join(label for _, label in SHARE_LABELS)
            + " | `hors_sujet` de data/ répondus | "
            + " | ".join(f"fausses réponses {k}" for k in set_names)
            + " |",
            "|---:|" + "---:|" * (len(SHARE_LABELS) + 1 + len(set_names)),
        ]
        for row in rows:
            mark = " (configuré)" if row.threshold == threshold else ""
            lines.append(
                f"| {row.threshold:.2f}{mark} | "
                + " | ".join(f"{getattr(row.shares, key):.3f}" for key, _ in SHARE_LABELS)
                + f" | {row.trained_off_topic:.3f} | "
                + " | ".join(f"{row.false_answers[k]:.3f}" for k in set_names)
                + " |"
            )
        point = evaluation.operating_point(rows)
        lines += [
            "",
            f"Seuil le plus bas gardant chaque jeu hors périmètre sous {MAX_FALSE_ANSWERS:.0%} "
            f"de fausses réponses : {'aucun' if point is None else f'{point.threshold:.2f}'}.",
        ]
    return lines


def _notes(results: Results) -> list[str]:
    """How everything was measured."""
    dropped = results.meta("latency").get("dropped", {})
    return [
        "",
        "## Méthode",
        "",
        "- Prédiction notée : l'intention en tête du classifieur, avant le FallbackClassifier "
        "(le seuil est appliqué ensuite) ; un message que le garde `NotUnderstoodGuard` renvoie "
        "au repli compte comme une erreur.",
        "- Parts au seuil (data/, validation croisée) : les **questions dans le périmètre** sont "
        "les exemples dont l'intention n'est pas `hors_sujet`. Chacune a une issue : **bonne "
        "réponse** (son intention, au-dessus du seuil et de l'ambiguïté), **mauvais sujet** (une "
        "autre intention du bot au-dessus du seuil : le citoyen lit une réponse à côté), "
        "**refusé comme hors sujet** (`hors_sujet` au-dessus du seuil : le citoyen lit que le "
        "bot ne traite pas cette demande), **non compris** (sous le seuil ou l'ambiguïté, ou "
        "renvoyé au repli par le garde : la réponse « pas compris » et ses boutons). Les cibles "
        "de l'issue 13 se lisent ainsi : « bonnes réponses ≥ 85 % » sur la bonne réponse, "
        "« mauvaises réponses ≤ 3 % » sur le mauvais sujet, « non compris ≤ 12 % » sur refusé + "
        "non compris ensemble. Les exemples `hors_sujet` de data/ sont mesurés à part : la part "
        "répondue sur un des sujets du bot (ligne « exemples `hors_sujet` »), hors du critère "
        "des 5 % (qui porte sur les jeux hors périmètre ci-dessous). L'**ancienne définition** "
        "(une ligne, pour comparer) comptait tous les exemples ensemble : un exemple "
        "`hors_sujet` répondu `hors_sujet` sous le seuil comptait comme repli, répondu sur un "
        "sujet comme mauvaise réponse, et une question répondue `hors_sujet` comme mauvaise "
        "réponse.",
        f"- Validation croisée : plis stratifiés par intention (graine {evaluation.FOLD_SEED}), "
        "les mêmes pour tous les pipelines ; entraînements avec le cache de Rasa désactivé.",
        "- Exactitude des 10 % les moins sûres : prédictions triées par confiance (marge "
        "de l'SVM pour TF-IDF), exactitude sur les 10 % du bas.",
        "- Latence : chaque modèle entraîné sur tout data/ (NLU) analyse les mêmes messages "
        f"(le test Wikit en boucle), à tour de rôle, après {WARM_UP_MESSAGES} messages de chauffe.",
        f"- Hors périmètre : échantillon (graine {evaluation.OFF_TOPIC_SEED}) du test Wikit sans "
        "l'intention « découvrir le champ d'action du bot » (le bot y répond par `demander_aide`) "
        "ni les phrases présentes dans data/ (NLU) "
        f"({dropped.get('wikit_echantillon', '?')} lignes écartées), et "
        f"bench/data/hors_perimetre.txt moins ses phrases présentes dans data/ (NLU) "
        f"({dropped.get('hors_perimetre', '?')} écartée(s)), et le grand jeu "
        "bench/data/hors_perimetre_evaluation.txt, écrit pour mesurer et jamais appris (les "
        "exemples `hors_sujet` de data/ sont d'autres phrases), moins ses phrases présentes "
        f"dans data/ (NLU) ({dropped.get('hors_perimetre_grand', '?')} écartée(s)).",
        "- Messages courts : bench/data/messages_courts.tsv, analysés par le modèle complet ; "
        "une bonne intention compte si elle passe le seuil configuré et le garde.",
        "- stock : le pipeline que Rasa entraîne pour un projet `rasa init` (son "
        "`default_config.yml`, avec `constrain_similarities: true`), langue `fr` ; sans "
        "graine fixée, ses chiffres varient d'un entraînement à l'autre.",
    ]


def _render(state: dict[str, Any]) -> str:
    """The Markdown report of everything measured so far."""
    results = Results(state["configs"], state["sections"])
    lines = [
        *_header(results),
        "",
        *_summary_table(results),
        *_warnings(results),
        *_criteria(results),
        *_confusion_table(results),
        *_sweep_tables(results),
        *_notes(results),
    ]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--shared", type=Path, default=evaluation.DEFAULT_SHARED)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=evaluation.RESULTS / "nlu_benchmark.md")
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

    state_file = args.out.with_suffix(".json.tmp")
    state = _load_state(state_file) if args.only else {"configs": {}, "sections": {}}
    pipelines = [_resolve(name, args.shared) for name in args.configs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nlu_benchmark_") as tmp:
        evaluation.configure_rasa(Path(tmp) / "cache")
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
