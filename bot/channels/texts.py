"""What the channels say to a citizen when a message cannot be answered, and the length cap.

One place for these French sentences, so the REST channel, the web widget's
channel and the Telegram bridge say the same thing. Pure Python, no Rasa import.
"""

from __future__ import annotations

from bot.typography import french_spacing

__all__ = [
    "BAD_JSON",
    "BAD_MESSAGE",
    "BAD_METHOD",
    "BAD_REQUEST",
    "BAD_SENDER",
    "HTTP_ERRORS",
    "MAX_MESSAGE_CHARS",
    "MAX_SENDER_CHARS",
    "NOT_JSON",
    "RATE_LIMITED",
    "TOO_LONG",
    "UNAVAILABLE",
]

# Longer messages are refused before anything reads them: the NLU's cost grows
# faster than the length on some inputs, and no question to the city needs more.
MAX_MESSAGE_CHARS = 1000
MAX_SENDER_CHARS = 128

UNAVAILABLE = (
    "Désolé, service momentanément indisponible. Réessayez dans quelques minutes ; en "
    "attendant, vous trouverez les informations utiles sur www.toulouse-metropole.fr."
)
TOO_LONG = (
    f"Votre message est trop long ({MAX_MESSAGE_CHARS} caractères au plus) : "
    "raccourcissez-le, puis réessayez."
)
RATE_LIMITED = (
    "Vous avez envoyé beaucoup de messages en peu de temps : patientez quelques instants, "
    "puis réessayez. Votre message n'est pas perdu."
)
BAD_REQUEST = "Requête invalide : le message n'a pas pu être lu. Réessayez."

# For the developers of a client of the REST channel: what to fix in the request.
BAD_JSON = (
    "Requête invalide : le corps doit être un objet JSON, par exemple "
    '{"sender": "identifiant-de-conversation", "message": "bonjour"}.'
)
NOT_JSON = "Requête invalide : envoyez le corps en JSON (Content-Type: application/json)."
BAD_SENDER = (
    "Requête invalide : « sender » doit être l'identifiant de la conversation, un texte "
    f"non vide de {MAX_SENDER_CHARS} caractères au plus, sans caractère de contrôle."
)
BAD_MESSAGE = "Requête invalide : « message » doit être un texte."
BAD_METHOD = "Méthode non autorisée : envoyez le message par une requête POST."

# Sanic's own refusals (a malformed request, an unknown address…) come before
# any channel sees the request; without these they would be English pages.
HTTP_ERRORS: dict[int, str] = {
    400: "Requête invalide : elle n'a pas pu être lue.",
    404: "Adresse inconnue : vérifiez le lien de l'assistant.",
    405: "Méthode non autorisée à cette adresse.",
    408: "La requête a mis trop de temps à arriver : réessayez.",
    413: "Requête trop volumineuse.",
    414: "Adresse trop longue.",
    431: "En-têtes de la requête trop longs.",
    503: UNAVAILABLE,
}
HTTP_ERROR_OTHER = "L'assistant n'a pas pu traiter cette requête : réessayez dans un instant."

# French typography (bot.typography) on every sentence a citizen may read, as on
# the bot's answers; not on BAD_JSON and NOT_JSON, whose JSON and header a developer copies.
UNAVAILABLE, TOO_LONG, RATE_LIMITED, BAD_REQUEST = map(
    french_spacing, (UNAVAILABLE, TOO_LONG, RATE_LIMITED, BAD_REQUEST)
)
BAD_SENDER, BAD_MESSAGE, BAD_METHOD, HTTP_ERROR_OTHER = map(
    french_spacing, (BAD_SENDER, BAD_MESSAGE, BAD_METHOD, HTTP_ERROR_OTHER)
)
HTTP_ERRORS = {status: french_spacing(text) for status, text in HTTP_ERRORS.items()}
