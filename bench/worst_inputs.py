"""How long the worst messages found hold the Rasa server's event loop: understanding and masking, per message.

Everything Rasa does with a message before the action server runs the NLU
pipeline, on the event loop, and nothing else can be answered meanwhile; the
conversation store then masks the text (`bot.privacy.mask`) before writing it.
This script loads the project's model in-process and times, for each kind of
hostile input the hardening work found, at the length a channel accepts
(1,000 characters) and at Telegram's own maximum (4,096, which the channels
now refuse before any processing):

- the whole NLU parse (`Agent.parse_message`), median and maximum of 5 runs;
- the storage masking;
- the step that used to grow with the square of the length, spaCy's
  tokenizer on the raw text (the old `WordVectorsFeaturizer.vector`), against
  the same step as it runs now, in the same run.

Usage (from the project root):
    .venv/bin/python bench/worst_inputs.py [--out bench/results/worst_inputs.md]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

RUNS = 5
CHANNEL_CAP = 1000
TELEGRAM_MAX = 4096


def _kinds(length: int) -> dict[str, str]:
    """The worst inputs found, each `length` characters long."""

    def fill(unit: str) -> str:
        return (unit * (length // len(unit) + 1))[:length]

    return {
        "emoji sans espace": fill("😀"),
        "emoji et lettres": fill("😀a"),
        "emoji espacés": fill("😀 "),
        "une seule lettre": fill("a"),
        "mots courts": fill("ab "),
        "commune répétée": fill("balma "),
        "chiffres": fill("1"),
        "chiffres espacés": fill("1 "),
        "arobases": fill("x@"),
        "ponctuation": fill("!?"),
        "accents": fill("é"),
        "noms propres": fill("Jean Dupont "),
        "téléphones": fill("+33 6 12 "),
        "adresse web": fill("https://a.fr/"),
        "barres obliques": fill("/"),
    }


def _timed(function: Callable[[], object]) -> list[float]:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "worst_inputs.md")
    args = parser.parse_args(argv)

    logging.disable(logging.WARNING)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's debug events would print each message

    from bot.privacy import mask
    from bot.processes import train_if_needed

    model = train_if_needed()
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(agent.parse_message("bonjour"))
    mask("Bonjour, je suis Jean Dupont")  # loads the name finder once
    from bot.rasa_plugins.nlu import WordVectorsFeaturizer

    featurizer = WordVectorsFeaturizer(WordVectorsFeaturizer.get_default_config())
    nlp = featurizer._nlp

    rows = []
    for length in (CHANNEL_CAP, TELEGRAM_MAX):
        for kind, text in _kinds(length).items():
            parse = _timed(lambda text=text: loop.run_until_complete(agent.parse_message(text)))
            masking = _timed(lambda text=text: mask(text))
            before = _timed(lambda text=text: nlp.make_doc(text.lower()))
            now = _timed(lambda text=text: featurizer.vector(text))
            rows.append((length, kind, parse, masking, before, now))
            print(
                f"{length:>5} {kind:<20} parse {max(parse):7.1f} ms  masque {max(masking):7.1f} ms",
                flush=True,
            )

    _write(args.out, rows)
    print(f"Rapport : {args.out}")
    return 0


def _write(
    path: Path, rows: list[tuple[int, str, list[float], list[float], list[float], list[float]]]
) -> None:
    load = os.getloadavg()
    lines = [
        "# Worst inputs: time on the event loop per message",
        "",
        f"Measured {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {platform.node()} "
        f"({os.cpu_count()} CPU, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}), "
        f"{RUNS} runs each, `bench/worst_inputs.py`.",
        "",
        "Parse = the whole NLU pipeline (`Agent.parse_message`); masking = `bot.privacy.mask` before "
        "storage; spaCy step = tokenizing for word vectors, *before* (raw text, as the old "
        "featurizer did) and *now* (runs without spaces longer than a word left out).",
        "",
        "| length | input | parse median | parse max | masking max | spaCy step before | spaCy step now |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for length, kind, parse, masking, before, now in rows:
        lines.append(
            f"| {length} | {kind} | {statistics.median(parse):.1f} ms | {max(parse):.1f} ms | "
            f"{max(masking):.1f} ms | {max(before):.1f} ms | {max(now):.1f} ms |"
        )
    capped = [r for r in rows if r[0] == CHANNEL_CAP]
    worst = max(capped, key=lambda r: max(r[2]) + max(r[3]))
    lines += [
        "",
        f"Worst message a channel accepts ({CHANNEL_CAP} characters): **{worst[1]}**, "
        f"{max(worst[2]):.1f} ms parse + {max(worst[3]):.1f} ms masking. "
        f"Messages over {CHANNEL_CAP} characters are refused by every channel before any "
        "processing; the 4,096-character rows show what that cap and the tokenizer change prevent.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
