"""The project's changes to Rasa 3.6.21's own behaviour, in one place, applied before Rasa serves.

Each change closes a hole that Rasa's extension points cannot reach:

- **Payloads only from the bot's own buttons.** Rasa treats any user message
  starting with `/` as an intent with entities (`/donner_commune{"commune":
  "Visitez https://evil.example"}`), and its default intents (`/restart`,
  `/session_start`, `/back`) as commands. Here a `/…` message acts as a
  payload only when it is exactly one the bot offered as a button in this
  conversation; anything else a citizen types is text for the NLU (its
  leading slashes removed, so Rasa cannot unpack it).
- **Entity values validated where they enter**, whatever the channel and
  whether they came from the NLU or from a button: a `commune` is one of the
  37 official names, a `commune_hors_metropole` a known place outside, a
  `sujet_avis` an intent of the domain; nothing else reaches the slots.
- **No silent in-memory conversations.** Rasa's `Agent` wraps every tracker
  store in `FailSafeTrackerStore`, which answers from an empty conversation
  when the database cannot be read and keeps in memory what it could not
  write. Stores that raise on purpose (`fails_loudly = True`) are used
  unwrapped, so the channel tells the citizen the service is unavailable.
- **French error pages.** Sanic answers a request no route accepts (a
  malformed request line, an unknown address, oversized headers) with an
  English page before any channel sees it; here every such answer outside
  Rasa's token-protected HTTP API is a French JSON `{"erreur": …}` with the
  same status.
- **A frozen action server costs seconds, not minutes.** Rasa waits up to
  five minutes for a custom action; `BOT_ACTION_TIMEOUT` (seconds, default
  5) bounds it, after which the turn has no reply and the channel says the
  service is momentarily unavailable.
- **A burst waits its turn instead of slowing every turn.** Rasa starts
  every message it receives at once, and they share one event loop: with
  a hundred turns in progress each gets a hundredth of the processor, a
  custom action's reply waits seconds to be read, and the action timeout
  above fires although the action server answered in milliseconds. Here
  at most `BOT_CONCURRENT_TURNS` (default 8) messages are handled at once;
  the others wait, first come first served (a turn waiting for its
  conversation's lock holds no slot). The same turns per second, each turn's own
  duration bounded, and nothing timed out by the queue.

- **A conversation whose lock holder died is served.** Rasa's lock store
  hands out numbered tickets that expire (`TICKET_LOCK_LIFETIME`); a message
  waits until its ticket is the first one left. When the instance holding
  a ticket dies, the message retried on another instance waits for that
  ticket to expire, but its own ticket, issued a moment later, expires
  during the same wait: both are removed, and Rasa then waits forever for
  a ticket that no longer exists (the load benchmark's turns "lost" when an
  instance is killed). Here a message goes on as soon as no earlier ticket
  is still valid, whether or not its own has expired meanwhile.

`apply()` is idempotent. It is called by `bot.rasa_plugins.server` (how the project
starts Rasa) and by the project's tracker store, so the changes are in
place however Rasa is started with this project's endpoints.
`tests/rasa_plugins/test_patches.py` ties each change to the pinned Rasa version.
It also applies `bot.rasa_plugins.speed`, the changes that make a turn cheaper.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bot.domain import ENTITY_COMMUNE, ENTITY_FEEDBACK_TOPIC, ENTITY_OUTSIDE
from bot.rasa_plugins import speed

__all__ = [
    "ACTION_TIMEOUT_ENV",
    "CONCURRENT_TURNS_ENV",
    "PATCHED_RASA_VERSION",
    "apply",
    "as_text",
    "offered_payloads",
    "valid_entities",
]

logger = logging.getLogger(__name__)

Number = TypeVar("Number", int, float)

PATCHED_RASA_VERSION = "3.6.21"
ACTION_TIMEOUT_ENV = "BOT_ACTION_TIMEOUT"
_DEFAULT_ACTION_TIMEOUT_SECONDS = 5.0
CONCURRENT_TURNS_ENV = "BOT_CONCURRENT_TURNS"
_DEFAULT_CONCURRENT_TURNS = 8

_MAX_ENTITY_VALUE_CHARS = 100

# Where Rasa mounts the input channels: what citizens' browsers and clients reach.
_CHANNEL_PREFIX = "/webhooks/"

# Everything Rasa's unpacking would skip before looking for its `/` prefix.
_PAYLOAD_PREFIX = re.compile(r"^[\s/]+")

_applied = False


def as_text(text: str) -> str:
    """A message that must not act as a payload, as the NLU will read it: no leading slashes."""
    return _PAYLOAD_PREFIX.sub("", text)


def offered_payloads(events: Iterable[Any]) -> set[str]:
    """The button payloads the bot offered in these tracker events (the conversation's window)."""
    payloads: set[str] = set()
    for event in events:
        data = getattr(event, "data", None)
        if getattr(event, "type_name", None) != "bot" or not isinstance(data, dict):
            continue
        for button in data.get("buttons") or ():
            payload = button.get("payload") if isinstance(button, dict) else None
            if isinstance(payload, str):
                payloads.add(payload.strip())
    return payloads


@functools.cache
def _valid_values() -> dict[str, frozenset[str]]:
    """The values the commune entity may take (the 37 official names); built once."""
    from bot.communes import COMMUNES

    return {
        ENTITY_COMMUNE: frozenset(COMMUNES),
    }


def valid_entities(entities: Any, intents: Iterable[str]) -> list[dict[str, Any]]:
    """The entities whose value is one the bot knows; the others are dropped, whatever their source."""
    if not isinstance(entities, list):
        return []
    from bot.communes import places_outside

    # Places outside are staff-edited (knowledge/communes.yml): read as now saved.
    allowed = {
        **_valid_values(),
        ENTITY_OUTSIDE: places_outside(),
        ENTITY_FEEDBACK_TOPIC: frozenset(intents),
    }
    kept: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        value = entity.get("value")
        values = allowed.get(entity.get("entity"))  # type: ignore[arg-type]
        if (
            values is not None
            and isinstance(value, str)
            and len(value) <= _MAX_ENTITY_VALUE_CHARS
            and value in values
        ):
            kept.append(entity)
    return kept


def _positive_setting(
    environ: dict[str, str] | os._Environ[str],
    name: str,
    default: Number,
    parse: Callable[[str], Number],
    unit: str,
) -> Number:
    """A positive number from the environment; the default (and a French warning) for anything else."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = parse("0")
    if value <= 0:
        logger.warning("%s=%r n'est pas %s : valeur par défaut, %s.", name, raw, unit, default)
        return default
    return value


def _action_timeout(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    return _positive_setting(
        environ,
        ACTION_TIMEOUT_ENV,
        _DEFAULT_ACTION_TIMEOUT_SECONDS,
        float,
        "un nombre de secondes positif",
    )


def _concurrent_turns(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    return _positive_setting(
        environ, CONCURRENT_TURNS_ENV, _DEFAULT_CONCURRENT_TURNS, int, "un nombre entier positif"
    )


class _FirstComeSlots:
    """`size` slots handed out strictly in arrival order, in one event loop.

    Unlike `asyncio.Semaphore` (Python 3.10), a freed slot goes to the
    longest waiter, never to a newcomer that asks in between: under a burst,
    a waiting turn is not sent back to the end of the queue each time it is
    overtaken, which made the slowest turns several times slower than the rest.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the longest waiter
                return
        self._free += 1


class _TurnSlots:
    """At most `size` turns at once in the running event loop; the others wait in arrival order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._loop: Any = None
        self._slots: _FirstComeSlots | None = None

    def slots(self) -> _FirstComeSlots:
        # Futures belong to one event loop (tests run several, one after another).
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._loop, self._slots = loop, _FirstComeSlots(self.size)
        return self._slots


_TURN_SLOTS = _TurnSlots(_DEFAULT_CONCURRENT_TURNS)


def _patch_turn_admission() -> None:
    from rasa.core.agent import Agent

    _TURN_SLOTS.size = _concurrent_turns()
    original = Agent.handle_message

    @functools.wraps(original)
    async def handle_message(self: Agent, message: Any) -> Any:
        if not self.is_ready():
            return await original(self, message)
        # Rasa's method, with the wait for a slot inside the conversation's
        # lock: a turn waiting for its lock (a message sent twice, or one
        # whose instance died holding it) takes no slot from the others.
        async with self.lock_store.lock(message.sender_id), _TURN_SLOTS.slots():
            return await self.processor.handle_message(message)

    Agent.handle_message = handle_message


def _patch_lock_wait() -> None:
    from rasa.core.lock import TicketLock
    from rasa.core.lock_store import LockError, LockStore

    async def _acquire_lock(
        self: LockStore, conversation_id: str, ticket: int, wait_time_in_seconds: float
    ) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if not lock:
                break
            # Rasa's test is "my ticket is the first one left", which never
            # becomes true once my own ticket has expired and been removed.
            if not any(t.number < ticket and not t.has_expired() for t in lock.tickets):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    LockStore._acquire_lock = _acquire_lock


def _patch_parse_message() -> None:
    from rasa.core.processor import MessageProcessor

    original: Callable[..., Any] = MessageProcessor.parse_message

    async def parse_message(
        self: MessageProcessor,
        message: Any,
        tracker: Any = None,
        only_output_properties: bool = True,
    ) -> dict[str, Any]:
        text = message.text if isinstance(message.text, str) else ""
        if text.strip().startswith("/"):
            offered = offered_payloads(tracker.events) if tracker is not None else set()
            if text.strip() not in offered:
                message.text = as_text(text)
        parse_data: dict[str, Any] = await original(self, message, tracker, only_output_properties)
        parse_data["entities"] = valid_entities(
            parse_data.get("entities"), self.domain.intents if self.domain else ()
        )
        return parse_data

    parse_message.__doc__ = original.__doc__
    MessageProcessor.parse_message = parse_message


def _patch_tracker_store_wrapper() -> None:
    from rasa.core.agent import Agent

    original: Callable[..., Any] = Agent._create_tracker_store

    def create_tracker_store(store: Any, domain: Any) -> Any:
        if store is not None and getattr(store, "fails_loudly", False):
            store.domain = domain
            return store
        return original(store, domain)

    Agent._create_tracker_store = staticmethod(create_tracker_store)


def _patch_action_timeout() -> None:
    import rasa.core.actions.action as action_module

    action_module.DEFAULT_REQUEST_TIMEOUT = _action_timeout()


def _french_error(request: Any, exception: Any) -> Any:
    from sanic import response

    from bot.channels.http import NO_STORE
    from bot.channels.texts import HTTP_ERROR_OTHER, HTTP_ERRORS

    status = int(getattr(exception, "status_code", 500) or 500)
    headers = dict(NO_STORE)
    allowed = getattr(exception, "headers", None) or {}
    if "Allow" in allowed:
        headers["Allow"] = allowed["Allow"]
    return response.json(
        {"erreur": HTTP_ERRORS.get(status, HTTP_ERROR_OTHER)}, status=status, headers=headers
    )


def _patch_error_pages() -> None:
    import rasa.core.run
    from sanic.exceptions import SanicException

    original: Callable[..., Any] = rasa.core.run.configure_app

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        default = app.error_handler.default

        def handler(request: Any, exception: Exception) -> Any:
            # A refusal on one of Rasa's HTTP API routes (token-protected, for
            # the operations team) keeps Rasa's own answer; a request that
            # reached no route, or a channel's, gets the French one.
            route = getattr(request, "route", None)
            path = getattr(request, "path", "") or ""
            if route is not None and not path.startswith(_CHANNEL_PREFIX):
                return default(request, exception)
            return _french_error(request, exception)

        app.error_handler.add(SanicException, handler)
        return app

    rasa.core.run.configure_app = configure_app


def apply() -> None:
    """Applies the project's changes to Rasa, once; refuses another Rasa version than the pinned one."""
    global _applied
    if _applied:
        return
    import rasa

    if rasa.__version__ != PATCHED_RASA_VERSION:
        raise RuntimeError(
            f"bot.rasa_plugins.patches targets Rasa {PATCHED_RASA_VERSION}, found {rasa.__version__}: "
            "review each change against the new version (tests/rasa_plugins/test_patches.py) first."
        )
    _patch_parse_message()
    _patch_tracker_store_wrapper()
    _patch_action_timeout()
    _patch_turn_admission()
    _patch_lock_wait()
    _patch_error_pages()
    speed.apply()
    _applied = True
