"""Opening hours: open now or when it reopens, in Europe/Paris time, on fixed dates."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.knowledge.hours import PARIS, french_public_holidays, parse_hours, parse_ranges

HOURS = parse_hours(
    {
        "lundi": "08:30-12:00, 13:30-17:00",
        "mardi": "08:30-12:00, 13:30-17:00",
        "mercredi": "08:30-12:00",
        "jeudi": "08:30-12:00, 13:30-17:00",
        "vendredi": "08:30-12:00, 13:30-16:30",
        "samedi": "09:00-12:00",
        "exceptions": {dt.date(2026, 12, 24): "08:30-12:00"},
    }
)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (
            at(2026, 11, 23, 7, 45),
            "Fermé en ce moment : réouverture aujourd'hui à 8 h 30.",
        ),  # Monday, before opening
        (at(2026, 11, 23, 10, 0), "Ouvert en ce moment, jusqu'à 12 h 00."),
        (
            at(2026, 11, 23, 12, 30),
            "Fermé en ce moment : réouverture aujourd'hui à 13 h 30.",
        ),  # lunch break
        (
            at(2026, 11, 25, 15, 0),
            "Fermé en ce moment : réouverture demain à 8 h 30.",
        ),  # Wednesday afternoon
        (
            at(2026, 11, 28, 12, 0),
            "Fermé en ce moment : réouverture lundi à 8 h 30.",
        ),  # Saturday noon
        (at(2026, 11, 29, 11, 0), "Fermé en ce moment : réouverture demain à 8 h 30."),  # Sunday
        (
            at(2026, 11, 11, 10, 0),
            "Fermé en ce moment : réouverture demain à 8 h 30.",
        ),  # Armistice, a Wednesday
        (
            at(2026, 12, 24, 14, 0),
            "Fermé en ce moment : réouverture samedi à 9 h 00.",
        ),  # exception, then Christmas
        (
            at(2027, 3, 29, 9, 0),
            "Fermé en ce moment : réouverture demain à 8 h 30.",
        ),  # Easter Monday 2027
    ],
)
def test_status_on_fixed_dates(now: dt.datetime, expected: str) -> None:
    assert HOURS.status(now) == expected


def test_time_zone_is_paris_whatever_the_server_clock() -> None:
    utc = dt.datetime(
        2026, 11, 23, 7, 45, tzinfo=dt.timezone.utc
    )  # 8:45 in Paris (UTC+1 in winter)
    assert HOURS.status(utc) == "Ouvert en ce moment, jusqu'à 12 h 00."
    summer_utc = dt.datetime(2026, 7, 6, 6, 45, tzinfo=dt.timezone.utc)  # 8:45 in Paris (UTC+2)
    assert HOURS.status(summer_utc) == "Ouvert en ce moment, jusqu'à 12 h 00."


def test_french_public_holidays_2026() -> None:
    holidays = french_public_holidays(2026)
    assert dt.date(2026, 4, 6) in holidays  # Easter Monday
    assert dt.date(2026, 5, 14) in holidays  # Ascension
    assert dt.date(2026, 5, 25) in holidays  # Whit Monday
    assert len(holidays) == 11


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8h30 à midi", "n'est pas une plage horaire"),
        ("12:00-08:30", "la fin doit venir après le début"),
        ("08:30-12:00, 11:00-14:00", "se chevauchent"),
        ("25:00-26:00", "heure impossible"),
    ],
)
def test_mistakes_are_explained_in_french(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ranges(text)
