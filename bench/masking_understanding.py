"""Does masking personal data change what the bot understands? Measured on the benchmark's citizen questions.

The conversation store keeps each message masked (`bot.privacy.mask`); the
NLU reads it before, in clear. This script measures, on questions the
authors did not write (the Wikit help-desk test split, 913 rows, and
covidflow's French examples) and on the bot's own training data:

- how many messages masking touches at all (false positives on ordinary
  questions: a word taken for a name, a number for a phone);
- among those, how many the project's model would understand differently
  if it read the masked text (intent, or falling under the threshold):
  what staff would see in the report and could copy into training.

The bot's own answers are unchanged by construction (it understands the
message before it is masked); the test suite checks that on the real servers.

Usage (from the project root):
    .venv/bin/python bench/masking_understanding.py [--shared ../shared] [--out bench/results/masking_understanding.md]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import logging
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


def _wikit(shared: Path) -> list[str]:
    path = shared / "benchmarks" / "nlu" / "wikit-covid" / "test_dataset.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["utterance"] for row in csv.DictReader(handle)]


def _rasa_examples(path: Path) -> list[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [str(e.get("text")) for e in load_data(str(path)).intent_examples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "masking_understanding.md"
    )
    args = parser.parse_args(argv)

    logging.disable(logging.WARNING)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.privacy import mask
    from bot.processes import train_if_needed

    configure_structlog(logging.WARNING)
    agent = Agent.load(str(train_if_needed()))
    sets = {
        "Wikit (test, externe)": _wikit(args.shared),
        "covidflow FR (externe)": _rasa_examples(
            args.shared / "benchmarks" / "nlu" / "covidflow-fr" / "nlu.rasa3.yml"
        ),
        "data/nlu.yml (le bot)": _rasa_examples(ROOT / "data" / "nlu.yml"),
    }

    async def intent(text: str) -> str:
        return str((await agent.parse_message(text))["intent"]["name"])

    rows = []
    loop = asyncio.new_event_loop()
    for name, texts in sets.items():
        touched = [(text, mask(text)) for text in texts if mask(text) != text]
        changed = [
            (text, masked)
            for text, masked in touched
            if loop.run_until_complete(intent(text)) != loop.run_until_complete(intent(masked))
        ]
        rows.append((name, len(texts), touched, changed))
        print(
            f"{name}: {len(texts)} messages, {len(touched)} masqués, {len(changed)} compris autrement"
        )

    load = os.getloadavg()
    lines = [
        "# Masking personal data and understanding",
        "",
        f"Measured {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {platform.node()} "
        f"({os.cpu_count()} CPU, load average {load[0]:.2f}), `bench/masking_understanding.py`, "
        "with the project's current model.",
        "",
        "The bot understands each message before it is masked, so its answers do not change. "
        "This table measures what masking does to ordinary questions that hold no personal data "
        "(the benchmark sets are citizens' questions to a help desk), and whether the masked text "
        "kept in the store would be understood the same way.",
        "",
        "| set | messages | masked (changed by masking) | understood differently once masked |",
        "|---|---:|---:|---:|",
    ]
    for name, total, touched, changed in rows:
        lines.append(
            f"| {name} | {total} | {len(touched)} ({100 * len(touched) / total:.1f} %) | "
            f"{len(changed)} ({100 * len(changed) / total:.1f} %) |"
        )
    # The benchmark's sentences are not ours to copy: only counts are written.
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"Rapport : {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
