"""The names the code shares with domain.yml (bot/domain.py) are the domain's own."""

from __future__ import annotations

import yaml

from bot import domain
from bot.paths import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))


def _names(prefix: str) -> dict[str, str]:
    return {n: getattr(domain, n) for n in domain.__all__ if n.startswith(prefix)}


def test_every_intent_named_in_the_code_is_in_the_domain() -> None:
    intents = set(DOMAIN["intents"])
    named = _names("INTENT_")
    assert named.pop("INTENT_FALLBACK") == "nlu_fallback"  # Rasa's own, not declared
    assert {name: value for name, value in named.items() if value not in intents} == {}
    assert intents >= domain.CONVERSATION_INTENTS


def test_every_entity_slot_and_action_named_in_the_code_is_in_the_domain() -> None:
    assert set(_names("ENTITY_").values()) <= set(DOMAIN["entities"])
    assert set(_names("SLOT_").values()) <= set(DOMAIN["slots"])
    assert set(_names("ACTION_").values()) <= set(DOMAIN["actions"])


def test_the_fallback_intent_is_the_one_rasa_predicts() -> None:
    from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME

    assert domain.INTENT_FALLBACK == DEFAULT_NLU_FALLBACK_INTENT_NAME
    policies = {p["name"]: p for p in CONFIG["policies"]}
    assert policies["RulePolicy"]["core_fallback_action_name"] == domain.ACTION_NOT_UNDERSTOOD
