"""Opening hours written by staff, and whether a place is open now, in Europe/Paris time.

Staff write, under a topic's `horaires:` field:

    horaires:
      lundi: 08:30-12:00, 13:30-17:00
      mardi: 08:30-12:00, 13:30-17:00
      samedi: fermé
      jours_feries: fermé            # the default: closed on French public holidays
      exceptions:
        2026-12-24: 08:30-12:00
        2026-12-26: fermé

A day that is not listed is closed. The answer then says "Ouvert en ce
moment, jusqu'à 12 h 00." or "Fermé en ce moment : réouverture lundi à 8 h 30."
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

__all__ = [
    "PARIS",
    "WEEKDAYS",
    "OpeningHours",
    "french_public_holidays",
    "parse_hours",
]

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
CLOSED_WORDS = frozenset({"fermé", "ferme", "fermée", "fermee"})
_RANGE = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})\s*$")

Ranges = tuple[tuple[dt.time, dt.time], ...]


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


def french_public_holidays(year: int) -> frozenset[dt.date]:
    """The eleven public holidays of metropolitan France."""
    easter = _easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    movable = [easter + dt.timedelta(days=n) for n in (1, 39, 50)]
    return frozenset([dt.date(year, m, d) for m, d in fixed] + movable)


def parse_ranges(text: str) -> Ranges:
    """ "08:30-12:00, 13:30-17:00" as time ranges; "fermé" as none. Raises ValueError in French."""
    if text.strip().lower() in CLOSED_WORDS:
        return ()
    ranges = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(
                f"« {part.strip()} » n'est pas une plage horaire : écrivez par exemple 08:30-12:00, "
                "plusieurs plages séparées par des virgules, ou « fermé »"
            )
        h1, m1, h2, m2 = (int(x) for x in match.groups())
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError:
            raise ValueError(f"« {part.strip()} » contient une heure impossible") from None
        if end <= start:
            raise ValueError(f"dans « {part.strip()} », la fin doit venir après le début")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start < end:
            raise ValueError(f"les plages de « {text.strip()} » se chevauchent")
    return tuple(ranges)


def _hm(time: dt.time) -> str:
    return f"{time.hour} h {time.minute:02d}"


@dataclass(frozen=True)
class OpeningHours:
    """Weekly hours with dated exceptions; closed on public holidays unless told otherwise."""

    weekly: tuple[Ranges, ...]
    exceptions: dict[dt.date, Ranges] = field(default_factory=dict)
    holidays: Ranges | None = ()

    def ranges_on(self, day: dt.date) -> Ranges:
        if day in self.exceptions:
            return self.exceptions[day]
        if self.holidays is not None and day in french_public_holidays(day.year):
            return self.holidays
        return self.weekly[day.weekday()]

    def status(self, now: dt.datetime) -> str:
        """One French sentence: open until when, or closed and when it reopens."""
        local = now.astimezone(PARIS)
        today, time = local.date(), local.time()
        for start, end in self.ranges_on(today):
            if start <= time < end:
                return f"Ouvert en ce moment, jusqu'à {_hm(end)}."
        for offset in range(0, 15):
            day = today + dt.timedelta(days=offset)
            for start, _ in self.ranges_on(day):
                if offset == 0 and start <= time:
                    continue
                when = (
                    "aujourd'hui"
                    if offset == 0
                    else "demain"
                    if offset == 1
                    else f"{WEEKDAYS[day.weekday()]} {day.day}/{day.month:02d}"
                    if offset >= 7
                    else WEEKDAYS[day.weekday()]
                )
                return f"Fermé en ce moment : réouverture {when} à {_hm(start)}."
        return "Fermé en ce moment, sans réouverture prévue dans les deux prochaines semaines."


def parse_hours(raw: dict[str, object]) -> OpeningHours:
    """Builds `OpeningHours` from the staff's mapping; raises ValueError with a French message."""
    weekly: list[Ranges] = []
    for day in WEEKDAYS:
        value = raw.get(day, "fermé")
        weekly.append(parse_ranges(str(value)))
    unknown = set(raw) - set(WEEKDAYS) - {"jours_feries", "exceptions"}
    if unknown:
        raise ValueError(
            f"« {sorted(unknown)[0]} » n'est pas un jour : utilisez lundi … dimanche, "
            "jours_feries ou exceptions"
        )
    holidays_raw = raw.get("jours_feries", "fermé")
    holidays = (
        None if str(holidays_raw).strip().lower() == "normal" else parse_ranges(str(holidays_raw))
    )
    exceptions: dict[dt.date, Ranges] = {}
    raw_exceptions = raw.get("exceptions") or {}
    if not isinstance(raw_exceptions, dict):
        raise ValueError("« exceptions » associe une date AAAA-MM-JJ à des horaires ou à « fermé »")
    for key, value in raw_exceptions.items():
        if not isinstance(key, dt.date):
            raise ValueError(f"« {key} » n'est pas une date au format AAAA-MM-JJ")
        exceptions[key] = parse_ranges(str(value))
    return OpeningHours(tuple(weekly), exceptions, holidays)
