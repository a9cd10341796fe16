"""Locust users for `bench/load_benchmark.py`: citizens holding realistic conversations with the bot.

Runs in Locust's own environment (`.venv-load/`), never in the project's:
it imports nothing from the project. Each user holds one conversation after
another, one turn per task so that a stopping test lets the turn in flight
finish (`--stop-timeout`):

1. a question that needs a commune (waste collection, bulky items, town hall hours…);
2. the commune, written as citizens write it;
3. a follow-up on another commune-dependent topic: the commune must be remembered;
4. a button pressed: a payload from the previous reply's buttons;
5. thanks, then 6. goodbye.

`WebCitizen` talks through the widget's channel (a signed conversation id from
`POST /webhooks/web/conversations`, then `POST /webhooks/web/messages` with
text/plain JSON, as the widget sends it); `RestClient` through the REST
channel. Both count a turn as failed when the status is not 200 or the reply
is empty, as lost when no HTTP answer came back at all, and as forgotten
("oubli") when the commune's turn or the follow-up does not name the commune
the citizen gave.

`LOAD_TURNS_FILE` (set by the benchmark) names a JSON file where every turn is
written at the end (channel, start time, latency, outcome; web conversation
openings too, as channel "ouverture") with the moment all users were spawned, so the benchmark computes its own percentiles over
the measured window, warm-up excluded.

    .venv-load/bin/locust -f bench/locustfile.py --headless -u 20 -r 20 -t 60s \
        --host http://127.0.0.1:5005
"""

from __future__ import annotations

import json
import os
import random
import time
import unicodedata
import uuid
from typing import Any

from locust import FastHttpUser, constant, events, task

OK = "ok"
ERROR = "erreur"  # an HTTP answer that is not 200, or an empty reply
LOST = "perdu"  # no HTTP answer: connection refused or reset, timeout
OPENING = "ouverture"  # the "channel" of a web conversation's opening, which is not a turn
FORGOTTEN = "oubli"  # answered, but the commune given earlier in the conversation is not in it

TIMEOUT = 60.0

QUESTIONS = (
    "quand passe la collecte des déchets ?",
    "c'est quand le ramassage des poubelles",
    "comment faire enlever mon vieux canapé",
    "quels sont les horaires de la mairie ?",
    "où est la déchèterie la plus proche",
)
# As citizens write them, with the official name the reply must name.
COMMUNES = {
    "Balma": "Balma",
    "Blagnac": "Blagnac",
    "colomiers": "Colomiers",
    "st orens": "Saint-Orens-de-Gameville",
    "l union": "L'Union",
    "Tournefeuille": "Tournefeuille",
    "Toulouse": "Toulouse",
}
FOLLOW_UPS = (
    "et les horaires de la mairie ?",
    "et pour les encombrants ?",
    "et la déchèterie ?",
    "et la collecte des ordures ?",
)
THANKS = ("merci", "merci beaucoup", "super merci")
GOODBYES = ("au revoir", "bonne journée, au revoir", "bye")
# When the previous reply offered no button, a question whose reply does.
HELP = "que peux-tu faire ?"

_turns: list[tuple[str, float, float, str]] = []
_spawned_at: list[float] = []


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_: Any) -> None:
    _spawned_at.append(time.time())


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    path = os.environ.get("LOAD_TURNS_FILE")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"spawned_at": _spawned_at[0] if _spawned_at else None, "turns": _turns}, handle)


def _folded(text: str) -> str:
    """Lower case, no accents, every run of non-letters one space: "L’Union" matches "L'Union"."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c if c.isalnum() else " " for c in plain if not unicodedata.combining(c))
    return " ".join(letters.split())


def _script() -> list[tuple[str | None, str | None]]:
    """One conversation: (message, official commune its reply must name).

    A None message is the turn that presses a button of the previous reply.
    The commune's turn and the follow-up on another topic must name the
    commune: the follow-up is how a lost conversation memory shows (after an
    instance of the cluster is killed, say).
    """
    written, official = random.choice(list(COMMUNES.items()))
    return [
        (random.choice(QUESTIONS), None),
        (written, official),
        (random.choice(FOLLOW_UPS), official),
        (None, None),
        (random.choice(THANKS), None),
        (random.choice(GOODBYES), None),
    ]


class _Citizen(FastHttpUser):
    """One conversation at a time, one turn per task, no pause: a closed-loop client."""

    abstract = True
    wait_time = constant(0)
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    channel = ""

    def on_start(self) -> None:
        self._script: list[tuple[str | None, str | None]] = []
        self._buttons: list[str] = []

    @task
    def turn(self) -> None:
        """Sends the next message of the conversation, starting a new conversation when one ends."""
        if not self._script:
            if not self.start_conversation():
                return
            self._script = _script()
            self._buttons = []
        message, commune = self._script.pop(0)
        if message is None:
            message = random.choice(self._buttons) if self._buttons else HELP
        start = time.time()
        outcome, replies = self.send(message)
        if outcome == OK and commune is not None:
            said = _folded(" ".join(str(r.get("text") or "") for r in replies))
            if _folded(commune) not in said:
                outcome = FORGOTTEN
        _turns.append((self.channel, start, time.time() - start, outcome))
        self._buttons = [
            str(button["payload"])
            for reply in replies
            for button in reply.get("buttons") or ()
            if button.get("payload")
        ]
        if outcome != OK:
            self._script = []  # the conversation is broken: the next task starts another

    def start_conversation(self) -> bool:
        raise NotImplementedError

    def send(self, message: str) -> tuple[str, list[dict[str, Any]]]:
        raise NotImplementedError

    def _judge(self, response: Any, replies_of: Any) -> tuple[str, list[dict[str, Any]]]:
        """The turn's outcome, marked in Locust's own statistics too."""
        if not response.status_code:
            response.failure(f"pas de réponse : {response.error}")
            return LOST, []
        if response.status_code != 200:
            response.failure(f"statut {response.status_code}")
            return ERROR, []
        try:
            replies = replies_of(response.json())
        except (ValueError, TypeError, AttributeError):
            replies = []
        if not any(r.get("text") or r.get("buttons") for r in replies):
            response.failure("réponse vide")
            return ERROR, []
        response.success()
        return OK, replies


class WebCitizen(_Citizen):
    """A citizen on the web widget: signed conversation id, then text/plain JSON messages."""

    channel = "web"

    def start_conversation(self) -> bool:
        start = time.time()
        with self.client.post(
            "/webhooks/web/conversations",
            data="{}",
            headers={"Content-Type": "text/plain"},
            name="web : ouverture",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self._conversation = str(response.json()["conversation"])
                response.success()
                outcome = OK
            else:
                response.failure(f"statut {response.status_code}")
                outcome = ERROR if response.status_code else LOST
        _turns.append((OPENING, start, time.time() - start, outcome))
        return outcome == OK

    def send(self, message: str) -> tuple[str, list[dict[str, Any]]]:
        body = json.dumps({"conversation": self._conversation, "text": message})
        with self.client.post(
            "/webhooks/web/messages",
            data=body.encode("utf-8"),
            headers={"Content-Type": "text/plain"},
            name="web : tour",
            catch_response=True,
        ) as response:
            return self._judge(response, lambda body: list(body["messages"]))


class RestClient(_Citizen):
    """A trusted client on the REST channel (as the Telegram bridge talks to the bot)."""

    channel = "rest"

    def start_conversation(self) -> bool:
        self._sender = f"charge-{uuid.uuid4().hex}"
        return True

    def send(self, message: str) -> tuple[str, list[dict[str, Any]]]:
        with self.client.post(
            "/webhooks/rest/webhook",
            json={"sender": self._sender, "message": message},
            name="rest : tour",
            catch_response=True,
        ) as response:
            return self._judge(response, list)
