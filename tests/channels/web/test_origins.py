"""Which web sites may talk to the bot from a browser (bot/channels/web/origins.py), pure."""

from __future__ import annotations

from bot.channels.web.origins import OriginPolicy, normalise_origin


def test_origins_of_the_configuration_and_the_environment_are_allowed() -> None:
    policy = OriginPolicy.from_config(
        ["https://www.toulouse-metropole.fr", "pas une origine", "https://x.fr/chemin"],
        env="http://localhost:8000, ",
    )
    assert policy.allowed == {"https://www.toulouse-metropole.fr:443", "http://localhost:8000"}
    host = "bot.example.fr"
    assert policy.allows("https://www.toulouse-metropole.fr", host)
    assert policy.allows("https://WWW.toulouse-metropole.fr:443", host)
    assert policy.allows("http://localhost:8000", host)
    assert policy.allows("https://bot.example.fr", host)  # the bot's own pages
    assert policy.allows(None, host)  # not a browser's cross-site request
    for refused in ("https://site-tiers.example", "null", "http://localhost:8001", "file://"):
        assert not policy.allows(refused, host), refused


def test_an_origin_is_normalised_with_its_port() -> None:
    assert normalise_origin("https://a.fr/") == "https://a.fr:443"
    assert normalise_origin("HTTP://A.fr:8080") == "http://a.fr:8080"
    for not_an_origin in ("ftp://a.fr", "https://a.fr/chemin", "https://a.fr?q=1", "a.fr", ""):
        assert normalise_origin(not_an_origin) is None, not_an_origin
