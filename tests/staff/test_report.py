"""The staff report: on hostile messages in a store built here, and on a store filled by the running bot."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.staff.report import Category, build_report, collect, write_csv, write_html
from tests.support import RunningBot

NOW = dt.datetime.now(dt.timezone.utc)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Said:
    """One user message as Rasa stores it; `topic` makes it a negative feedback on that topic."""

    sender: str
    intent: str
    text: str
    confidence: float = 0.3
    topic: str | None = None


HOSTILE = [
    Said("nul", "nlu_fallback", "avant\x00après le caractère nul"),
    Said("long", "nlu_fallback", "appelez le 06 12 34 56 78 " + "blabla " * 30_000),
    Said("formule", "nlu_fallback", '=HYPERLINK("http://x","clic")'),
    Said("somme", "hors_sujet", "+SUM(1)", confidence=0.9),
    Said("moins", "nlu_fallback", "-2+3"),
    Said("arobase", "nlu_fallback", "@SUM(A1)"),
    Said("tab", "nlu_fallback", "\t=1+1"),
    Said("retour", "nlu_fallback", "\r=1+1"),
    Said("script", "nlu_fallback", "<script>alert('x')</script> mon mail zorglub@qwx.org"),
    Said("controle", "nlu_fallback", "ligne\nsuivante\x1b[31m\u202eeruges\x07"),
]


def _store(path: Path, messages: list[Said]) -> str:
    """An SQLite file with Rasa's `events` table holding these user messages; its URL."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT,"
            " timestamp REAL, intent_name TEXT, action_name TEXT, data TEXT)"
        )
        for offset, said in enumerate(messages):
            text, entities = said.text, []
            if said.topic is not None:
                entities = [{"entity": "sujet_avis", "value": said.topic}]
                text = "/avis_negatif" + json.dumps({"sujet_avis": said.topic})
            parse = {
                "intent": {"name": said.intent, "confidence": said.confidence},
                "entities": entities,
                "text": text,
            }
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data)"
                " VALUES (?, 'user', ?, ?, ?)",
                (
                    said.sender,
                    NOW.timestamp() - 60 + offset,
                    said.intent,
                    json.dumps({"event": "user", "text": text, "parse_data": parse}),
                ),
            )
    return f"sqlite:///{path}"


def _window() -> tuple[dt.datetime, dt.datetime]:
    return NOW - dt.timedelta(hours=1), NOW + dt.timedelta(minutes=5)


def _csv_cells(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture
def hostile_store(tmp_path: Path) -> str:
    return _store(tmp_path / "conversations.db", HOSTILE)


@pytest.mark.timeout(120)
def test_report_command_survives_hostile_messages(hostile_store: str, tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    today = dt.date.today().isoformat()
    assert main(["rapport", "--base", hostile_store, "--depuis", today, "--sortie", str(out)]) == 0
    rows = _csv_cells(out / "rapport.csv")
    assert sum(int(row["nombre"]) for row in rows) == len(HOSTILE)
    assert "avantaprès le caractère nul" in {row["exemple"] for row in rows}
    page = (out / "rapport.html").read_text(encoding="utf-8")
    assert "avantaprès le caractère nul" in page and "\x00" not in page


@pytest.mark.parametrize("typed", ["=HYPERLINK(", "+SUM(1)", "-2+3", "@SUM(A1)", "=1+1"])
def test_formulas_reach_the_spreadsheet_as_text(
    hostile_store: str, tmp_path: Path, typed: str
) -> None:
    path = tmp_path / "rapport.csv"
    write_csv(build_report(collect(hostile_store, *_window())), path)
    cells = [cell for row in _csv_cells(path) for cell in row.values()]
    assert any(cell.startswith("'" + typed) for cell in cells)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]


def test_topics_and_variants_are_neutralised_too(tmp_path: Path) -> None:
    url = _store(
        tmp_path / "conversations.db",
        [
            Said("a", "nlu_fallback", "=1+1 kjqsdh fjqsdkj"),
            Said("b", "nlu_fallback", "kjqsdh fjqsdkj"),
            Said("c", "nlu_fallback", "kjqsdh fjqsdkj"),
            Said("d", "transports_en_commun", "bus", confidence=0.4),
            Said("d", "avis_negatif", "", topic='=HYPERLINK("http://x","clic")'),
        ],
    )
    path = tmp_path / "rapport.csv"
    write_csv(build_report(collect(url, *_window())), path)
    rows = _csv_cells(path)
    not_understood = next(r for r in rows if r["catégorie"] == Category.NOT_UNDERSTOOD)
    assert (not_understood["exemple"], not_understood["variantes"]) == (
        "kjqsdh fjqsdkj",
        "'=1+1 kjqsdh fjqsdkj",
    )
    negative = next(r for r in rows if r["catégorie"] == Category.NEGATIVE)
    assert negative["sujet"] == '\'=HYPERLINK("http://x","clic")'
    assert negative["exemple"] == "bus"


def test_control_characters_are_removed_and_line_breaks_become_spaces(
    hostile_store: str,
) -> None:
    texts = [text for g in build_report(collect(hostile_store, *_window())) for text in g.texts]
    assert "avantaprès le caractère nul" in texts
    assert "ligne suivante[31meruges" in texts
    assert "=1+1" in texts  # the tab and the carriage return in front are gone
    assert not [t for t in texts if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in t)]


@pytest.mark.timeout(120)
def test_a_long_message_is_masked_and_cut_for_display(hostile_store: str) -> None:
    texts = [t for g in build_report(collect(hostile_store, *_window())) for t in g.texts]
    [long_text] = [t for t in texts if t.startswith("appelez le")]
    assert long_text.startswith("appelez le [téléphone] blabla blabla")
    assert len(long_text) <= 301 and long_text.endswith("…")


@pytest.mark.timeout(120)
def test_long_messages_without_spaces_are_reported_in_bounded_time(tmp_path: Path) -> None:
    # Long runs of letters made the old masking quadratic, and the grouping
    # compared whole messages with SequenceMatcher: minutes for these.
    messages = [
        Said(f"s{i}", "nlu_fallback", f"{letter}{i} " + letter * 100_000)
        for i, letter in enumerate("abcdefghij")
    ]
    url = _store(tmp_path / "conversations.db", messages)
    groups = build_report(collect(url, *_window()))
    assert sum(g.count for g in groups) == len(messages)
    assert all(len(t) <= 301 for g in groups for t in g.texts)


def test_html_is_escaped(hostile_store: str, tmp_path: Path) -> None:
    path = tmp_path / "rapport.html"
    today = dt.date.today()
    write_html(build_report(collect(hostile_store, *_window())), path, today, today)
    page = path.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; mon mail [e-mail]" in page
    assert "zorglub" not in page


def test_broken_rows_are_skipped_and_unwritable_characters_dropped(tmp_path: Path) -> None:
    url = _store(tmp_path / "conversations.db", [Said("a", "nlu_fallback", "kjqsdh fjqsdkj")])
    with sqlite3.connect(tmp_path / "conversations.db") as db:
        for data in [
            "{not json",
            "[1, 2]",
            '{"text": 12, "parse_data": "x"}',
            "null",
            "[" * 100_000 + "]" * 100_000,
            '{"text": "\\ud800 ok", "parse_data": {"intent": []}}',
        ]:
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data)"
                " VALUES ('b', 'user', ?, 'nlu_fallback', ?)",
                (NOW.timestamp(), data),
            )
    flagged = collect(url, *_window())
    assert [message.text for message in flagged] == ["kjqsdh fjqsdkj", "ok"]
    write_html(build_report(flagged), tmp_path / "rapport.html", dt.date.today(), dt.date.today())


# --- On a store filled by real conversations with the running bot (slower) ---


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


def _live_window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(minutes=5)


@pytest.mark.servers
def test_unanswered_messages_are_grouped_counted_and_masked(filled_store: str) -> None:
    groups = build_report(collect(filled_store, *_live_window()))
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


@pytest.mark.servers
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
