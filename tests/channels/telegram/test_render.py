"""Answers as Telegram messages (bot/channels/telegram/render.py): HTML escaped, links clickable, split to fit."""

from __future__ import annotations

from bot.channels.telegram.render import ButtonPayloads, render_chunks, telegram_length, to_html
from tests.support.fake_telegram_api import parse_telegram_html

HOSTILE = "Tarif < 5 € & gratuit pour les *moins* de 26 ans_ <b>x</b> [lien](y) `code` &amp; 3 > 2"


def test_hostile_characters_are_escaped_and_shown_as_written() -> None:
    html = to_html(HOSTILE)
    visible, links = parse_telegram_html(html)
    assert visible == HOSTILE
    assert links == []
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_knowledge_links_become_clickable_titles_and_bare_urls_links() -> None:
    text = (
        "Voir https://exemple.fr/a?b=1&c=2. Merci.\n\nPour en savoir plus :\n"
        "- Service-Public : papiers : https://www.service-public.fr/particuliers"
    )
    visible, links = parse_telegram_html(to_html(text))
    assert links == [
        ("https://exemple.fr/a?b=1&c=2", "https://exemple.fr/a?b=1&c=2"),
        ("Service-Public : papiers", "https://www.service-public.fr/particuliers"),
    ]
    assert "Merci." in visible and visible.endswith("- Service-Public : papiers")


def test_long_answer_is_split_between_paragraphs_in_order() -> None:
    sentence = "Une phrase de la réponse & <suite>. "
    paragraphs = [f"Paragraphe {n:02d}. {sentence * 9}".strip() for n in range(30)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 6000
    chunks = render_chunks(text)
    assert len(chunks) >= 2
    assert all(telegram_length(chunk) <= 4096 for chunk in chunks)
    visible = [parse_telegram_html(chunk)[0] for chunk in chunks]
    assert "\n\n".join(visible) == text
    assert all(piece in paragraphs for chunk in visible for piece in chunk.split("\n\n"))


def test_an_overlong_paragraph_is_cut_at_lines_then_words_and_emoji_count_double() -> None:
    lines = "\n".join(f"- ligne {n} " + "mot " * 30 for n in range(60))
    one_word = "é" * 5000
    emoji = "🚲" * 3000
    for text in (lines, one_word, emoji):
        chunks = render_chunks(text)
        assert all(telegram_length(chunk) <= 4096 for chunk in chunks)
        joined = "".join(parse_telegram_html(c)[0] for c in chunks)
        assert joined.replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert len(render_chunks(emoji)) == 2


def test_payloads_over_64_bytes_travel_as_a_short_key() -> None:
    payloads = ButtonPayloads(capacity=2)
    short = '/avis_positif{"sujet_avis": "velo"}'
    long = '/avis_negatif{"sujet_avis": "' + "smart_city_" * 8 + '"}'
    assert payloads.encode(short) == short
    key = payloads.encode(long)
    assert len(key.encode()) <= 64 and key != long
    assert payloads.decode(key) == long
    payloads.encode("/" + "a" * 80)
    payloads.encode("/" + "b" * 80)
    assert payloads.decode(key) is None
