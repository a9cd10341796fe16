"""The report's charts: questions per day with the not-understood rate, and the most asked topics.

Drawn with matplotlib's Agg backend (no display needed) as PNG images
embedded in the page (`data:` URIs: the page stays one file). Each chart
comes with a French text alternative, for screen readers and for staff who
would rather read the numbers.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["Chart", "activity_chart", "topics_chart"]

_BLUE = "#005a9c"
_ORANGE = "#b34700"
_TOP_TOPICS = 10


@dataclass(frozen=True)
class Chart:
    """One chart: the PNG image as a `data:` URI, and what it shows, in words."""

    title: str
    image: str
    text: str


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _percent(value: float) -> str:
    return f"{value:.0f} %".replace(".", ",")


def activity_chart(
    per_day: Counter[dt.date], not_understood: Counter[dt.date], since: dt.date, until: dt.date
) -> Chart:
    """Questions per day (bars) and the share not understood (line), every day of the period."""
    days = [since + dt.timedelta(days=n) for n in range((until - since).days + 1)]
    counts = [per_day.get(day, 0) for day in days]
    rates = [
        100.0 * not_understood.get(day, 0) / per_day[day] if per_day.get(day) else 0.0
        for day in days
    ]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 3.2))
    labels = [day.strftime("%d/%m") for day in days]
    axis.bar(labels, counts, color=_BLUE, label="messages")
    axis.set_ylabel("messages par jour")
    axis.tick_params(axis="x", labelrotation=45 if len(days) > 10 else 0)
    if len(days) > 31:
        step = len(days) // 15 + 1
        for index, label in enumerate(axis.get_xticklabels()):
            label.set_visible(index % step == 0)
    rate_axis = axis.twinx()
    rate_axis.plot(labels, rates, color=_ORANGE, marker="o", label="non compris (%)")
    rate_axis.set_ylabel("non compris (%)")
    rate_axis.set_ylim(0, 100)
    handles = axis.get_legend_handles_labels()[0] + rate_axis.get_legend_handles_labels()[0]
    axis.legend(handles, ["messages", "non compris (%)"], loc="upper left", frameon=False)
    axis.set_title("Messages par jour et part non comprise")
    total = sum(counts)
    missed = sum(not_understood.get(day, 0) for day in days)
    busiest = max(days, key=lambda day: per_day.get(day, 0))
    text = (
        f"Du {since:%d/%m/%Y} au {until:%d/%m/%Y} : {total} message(s) d'habitants, "
        f"dont {missed} non compris ({_percent(100.0 * missed / total if total else 0)}). "
        + (
            f"Jour le plus chargé : {busiest:%d/%m} ({per_day.get(busiest, 0)} messages). "
            if total
            else ""
        )
        + "Par jour : "
        + " ; ".join(
            f"{day:%d/%m} : {count} ({_percent(rate)} non compris)"
            for day, count, rate in zip(days, counts, rates, strict=True)
        )
        + "."
    )
    return Chart("Messages par jour et part non comprise", _png(figure), text)


def topics_chart(topics: Counter[str]) -> Chart:
    """The most asked topics of the period, as horizontal bars, most asked on top."""
    top = topics.most_common(_TOP_TOPICS)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 0.4 * max(len(top), 3) + 1))
    names = [name for name, _ in reversed(top)]
    counts = [count for _, count in reversed(top)]
    axis.barh(names, counts, color=_BLUE)
    axis.set_xlabel("messages")
    axis.set_title("Sujets les plus demandés")
    for y, count in enumerate(counts):
        axis.text(count, y, f" {count}", va="center")
    text = (
        "Sujets les plus demandés : " + " ; ".join(f"{name} : {count}" for name, count in top) + "."
        if top
        else "Aucun sujet demandé sur la période."
    )
    return Chart("Sujets les plus demandés", _png(figure), text)
