"""The names the code shares with `domain.yml`, written once: intents it branches on, entities, slots, actions.

Everything else that needs one of these names imports it from here;
`tests/test_domain.py` holds this module against `domain.yml` (and Rasa's
own fallback intent), so a rename in one place cannot silently break the
other. Pure Python, no Rasa import.
"""

from __future__ import annotations

__all__ = [
    "ACTION_ANSWER",
    "ACTION_NOT_UNDERSTOOD",
    "CONVERSATION_INTENTS",
    "ENTITY_COMMUNE",
    "ENTITY_FEEDBACK_TOPIC",
    "ENTITY_OUTSIDE",
    "INTENT_AGENT",
    "INTENT_ALERTS",
    "INTENT_FALLBACK",
    "INTENT_FEEDBACK_NO",
    "INTENT_FEEDBACK_YES",
    "INTENT_GIVE_COMMUNE",
    "INTENT_GOODBYE",
    "INTENT_GREET",
    "INTENT_HELP",
    "INTENT_OFF_TOPIC",
    "INTENT_ROBOT",
    "INTENT_THANKS",
    "SLOT_COMMUNE",
    "SLOT_LAST_TOPIC",
    "SLOT_PENDING",
]

# Intents
INTENT_GREET = "saluer"
INTENT_GOODBYE = "dire_au_revoir"
INTENT_THANKS = "remercier"
INTENT_HELP = "demander_aide"
INTENT_ROBOT = "demander_si_robot"
INTENT_AGENT = "parler_a_un_agent"
INTENT_OFF_TOPIC = "hors_sujet"
INTENT_GIVE_COMMUNE = "donner_commune"
INTENT_FEEDBACK_YES = "avis_positif"
INTENT_FEEDBACK_NO = "avis_negatif"
# "Y a-t-il des perturbations ?": the current alerts of the citizen's commune (bot.knowledge.alerts).
INTENT_ALERTS = "demander_alertes"
# Rasa's own: what the FallbackClassifier (and the project's guard) predicts
# for a message the bot did not understand well enough.
INTENT_FALLBACK = "nlu_fallback"

# Small talk: answered, but neither offered as "did you mean" nor followed by "did it help?".
CONVERSATION_INTENTS = frozenset(
    {INTENT_GREET, INTENT_GOODBYE, INTENT_THANKS, INTENT_HELP, INTENT_ROBOT, INTENT_OFF_TOPIC}
)

# Entities
ENTITY_COMMUNE = "commune"
ENTITY_OUTSIDE = "commune_hors_metropole"
ENTITY_FEEDBACK_TOPIC = "sujet_avis"

# Slots
SLOT_COMMUNE = "commune"
SLOT_PENDING = "sujet_en_attente"
SLOT_LAST_TOPIC = "dernier_sujet_commune"

# Custom actions
ACTION_ANSWER = "action_repondre_question"
ACTION_NOT_UNDERSTOOD = "action_repondre_incompris"
