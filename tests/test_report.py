"""The staff report, on a conversation store filled by real conversations with the running bot."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from bot.cli import main
from bot.report import Category, build_report, collect
from tests.conftest import RunningBot

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def filled_store(running_bot: RunningBot) -> str:
    for message in [
        "kjqsdh fjqsdkj",
        "kjqsdh fjqsdk",
        "tu peux me donner la recette du cassoulet ?",
        "recette du cassoulet stp",
        "wxcvbn zorglub.kzw@qwx.org",
    ]:
        running_bot.conversation().send(message)
    conversation = running_bot.conversation()
    conversation.send("qui a gagné le prix icapital ?")
    conversation.send('/avis_negatif{"sujet_avis": "prix_icapital"}')
    return f"sqlite:///{running_bot.database}"


def _window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(minutes=5)


def test_unanswered_messages_are_grouped_counted_and_masked(filled_store: str) -> None:
    groups = build_report(collect(filled_store, *_window()))
    by_category = {(g.category, g.example): g.count for g in groups}
    not_understood = [g for g in groups if g.category == Category.NOT_UNDERSTOOD]
    assert not_understood[0].count >= 2  # the two near-identical messages form one group
    assert any("[e-mail]" in g.example for g in not_understood)
    assert not any("zorglub.kzw" in text for g in groups for text in g.texts)
    assert sum(c for (cat, _), c in by_category.items() if cat == Category.OFF_TOPIC) >= 1
    negative = [g for g in groups if g.category == Category.NEGATIVE]
    assert [(g.topic, g.example) for g in negative] == [
        ("prix_icapital", "qui a gagné le prix icapital ?")
    ]


def test_report_command_writes_csv_and_html(filled_store: str, tmp_path: Path) -> None:
    today = dt.date.today().isoformat()
    assert (
        main(["rapport", "--base", filled_store, "--depuis", today, "--sortie", str(tmp_path)]) == 0
    )
    with (tmp_path / "rapport.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert rows and {"catégorie", "sujet", "nombre", "exemple"} <= set(rows[0])
    page = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert "Non compris" in page and "[e-mail]" in page and "zorglub.kzw" not in page
