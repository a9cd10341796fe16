"""Chooses the FallbackClassifier threshold from measured confidences, not by guess.

Usage (from the project root):
    .venv/bin/python bench/fallback_threshold.py [--folds 3] [--shared ../shared]

For each of `--folds` stratified folds of the NLU data (every NLU file under
`data/`; the folds of `nlu_benchmark.py`, made by `evaluation.folds`), trains
the NLU part of `config.yml` on the other folds and parses the held-out
examples (in scope) and the off-topic sets of `evaluation.off_topic_sets`:
`bench/data/hors_perimetre.txt` and `bench/data/hors_perimetre_evaluation.txt`
(written for the benchmarks, never trained on) and, when `--shared` is given,
a sample of the Wikit test split (a public-sector help desk: no topic of this
bot applies).

A threshold t turns every prediction under t (or within `config.yml`'s
ambiguity threshold of the second intent) into the not-understood reply. For
each t the script reports, for the in-scope questions (held-out examples whose
intent is not `hors_sujet`): the share answered on the right topic, on a wrong
topic, refused as off topic (`hors_sujet` above t), not understood, and not
understood with the right topic among the offered buttons; for the NLU data's
own `hors_sujet` examples and for each off-topic set: the share answered on
one of the bot's topics (a false answer; `hors_sujet` and the fallback both
count as correct refusals). The recommended threshold is the lowest swept one
whose off-topic false answers stay under 5 %, which keeps the most in-scope
answers: the benchmark's operating point, on the benchmark's folds.

The table is printed and written to `--out` (bench/results/fallback_threshold.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import evaluation
from evaluation import MAX_FALSE_ANSWERS, Item, Prediction, SweepRow

# Shown for reference (the ambiguity threshold alone), not a candidate.
NO_THRESHOLD = 0.0


def _measure(
    config: str, folds: int, sets: dict[str, list[str]], tmp: Path
) -> tuple[list[Prediction], dict[str, list[Prediction]]]:
    """Held-out predictions of every fold, and each off-topic set parsed by every fold's model."""
    in_scope: list[Prediction] = []
    outside: dict[str, list[Prediction]] = {name: [] for name in sets}
    for i, fold in enumerate(evaluation.folds(evaluation.NLU_DATA, folds)):
        data_file = fold.write_training(tmp / f"fold{i}.yml")
        print(f"Pli {i + 1}/{folds} : entraînement…", flush=True)
        model, _ = evaluation.train(config, data_file, tmp, f"fold{i}")
        batches: dict[str, list[Item]] = {"held_out": fold.held_out}
        batches |= {name: [(s, None) for s in sentences] for name, sentences in sets.items()}
        parsed = evaluation.parse_with_model(model, batches)
        in_scope += parsed["held_out"]
        for name in sets:
            outside[name] += parsed[name]
    return in_scope, outside


def _report(
    rows: list[SweepRow],
    in_scope_count: int,
    trained_count: int,
    sets: dict[str, list[str]],
    folds: int,
    configured: float,
    ambiguity: float,
    recommended: SweepRow | None,
) -> str:
    """The Markdown report: one line per threshold, then the recommendation."""
    lines = [
        f"# Seuil du FallbackClassifier ({dt.date.today().isoformat()}, {folds} plis, "
        f"ambiguïté {ambiguity:.2f})",
        "",
        f"Dans le périmètre : {in_scope_count} questions de data/ (NLU) (intention autre que "
        f"`hors_sujet`), validation croisée ; `hors_sujet` de data/ : ses {trained_count} "
        "exemples hors sujet, part répondue sur un sujet (hors du critère). Hors périmètre : "
        + ", ".join(f"{name} ({len(v)} phrases × {folds} modèles)" for name, v in sets.items()),
        "",
        "Parts : bonne réponse ; mauvais sujet (un autre sujet du bot au-dessus du seuil) ; "
        "refusé (`hors_sujet` au-dessus du seuil) ; non compris (sous le seuil, l'ambiguïté, ou "
        "le garde) ; non compris avec le bon sujet parmi les boutons proposés.",
        "",
        "| seuil | bonne réponse | mauvais sujet | refusé comme hors sujet | non compris "
        "| refusé + non compris | non compris, bon sujet proposé | `hors_sujet` de data/ répondus | "
        + " | ".join(f"fausses réponses {name}" for name in sets)
        + " |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(sets),
    ]
    for row in rows:
        mark = " (configuré)" if row.threshold == configured else ""
        shares = row.shares
        lines.append(
            f"| {row.threshold:.2f}{mark} | {shares.right:.3f} | {shares.wrong:.3f} | "
            f"{shares.refused:.3f} | {shares.not_understood:.3f} | {shares.unanswered:.3f} | "
            f"{shares.offered:.3f} | {row.trained_off_topic:.3f} | "
            + " | ".join(f"{row.false_answers[name]:.3f}" for name in sets)
            + " |"
        )
    lines += [
        "",
        f"Seuil recommandé (le plus bas gardant les fausses réponses hors périmètre sous "
        f"{MAX_FALSE_ANSWERS:.0%}) : {recommended.threshold if recommended else 'aucun'}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=None, help="the shared folder (../shared)")
    parser.add_argument("--out", type=Path, default=evaluation.RESULTS / "fallback_threshold.md")
    args = parser.parse_args()

    config = evaluation.CONFIG.read_text(encoding="utf-8")
    configured, ambiguity = evaluation.fallback_setting(config)
    sets = evaluation.off_topic_sets(args.shared).sets
    with tempfile.TemporaryDirectory(prefix="fallback_threshold_") as tmp:
        evaluation.configure_rasa(Path(tmp) / "cache")
        in_scope, outside = _measure(config, args.folds, sets, Path(tmp))
    candidates = sorted({NO_THRESHOLD, *evaluation.thresholds(configured)})
    rows = evaluation.sweep(in_scope, outside, candidates, ambiguity)
    recommended = evaluation.operating_point(r for r in rows if r.threshold != NO_THRESHOLD)
    report = _report(
        rows,
        len(evaluation.questions(in_scope)),
        len(evaluation.trained_off_topic(in_scope)),
        sets,
        args.folds,
        configured,
        ambiguity,
        recommended,
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
