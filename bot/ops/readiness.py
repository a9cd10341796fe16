"""Whether this Rasa server can answer citizens now: the checks behind the readiness endpoint.

Four checks, run together, each bounded by `TIMEOUT_SECONDS`:

    model               Rasa's agent has a model loaded
    actions             the action server answers GET /health
    conversation_store  one cheap read of the conversation store succeeds
    lock_store          the lock store answers (Redis: PING; in memory: always)

Each gives "ok" or a short reason ("TimeoutError", "HTTP 500", "aucun modèle
chargé"): no address, no secret, nothing a citizen wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["OK", "TIMEOUT_SECONDS", "Readiness", "check_agent", "run_checks"]

OK = "ok"
TIMEOUT_SECONDS = 2.0

Check = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class Readiness:
    """The result of every check; ready when all of them are "ok"."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(result == OK for result in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ready else "indisponible", "checks": self.checks}


async def run_checks(checks: dict[str, Check], timeout: float = TIMEOUT_SECONDS) -> Readiness:
    """Runs `checks` concurrently; a check that raises or exceeds `timeout` fails with the error's name."""

    async def one(check: Check) -> str:
        try:
            return await asyncio.wait_for(check(), timeout)
        except asyncio.TimeoutError:
            return "TimeoutError"
        except Exception as error:
            return type(error).__name__

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    return Readiness(dict(zip(names, results, strict=True)))


def action_health_url(webhook_url: str) -> str:
    """The action server's /health address, from its webhook address in endpoints.yml."""
    base = webhook_url.rstrip("/")
    if base.endswith("/webhook"):
        base = base[: -len("/webhook")]
    return f"{base}/health"


async def _model(agent: Any) -> str:
    return OK if agent is not None and agent.is_ready() else "aucun modèle chargé"


async def _actions(agent: Any) -> str:
    endpoint = getattr(agent, "action_endpoint", None)
    if endpoint is None or not getattr(endpoint, "url", None):
        return "aucun serveur d'actions configuré"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(action_health_url(endpoint.url)) as reply,
    ):
        return OK if reply.status == 200 else f"HTTP {reply.status}"


def _read_store(store: Any) -> str:
    if hasattr(store, "session_scope") and hasattr(store, "SQLEvent"):
        with store.session_scope() as session:
            # Reads the events table itself: a locked or missing database fails here.
            session.query(store.SQLEvent.id).limit(1).all()
        return OK
    if hasattr(store, "keys"):
        return OK
    return "magasin de conversations inconnu"


async def _conversation_store(agent: Any) -> str:
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return "aucun magasin de conversations"
    # Rasa's tracker store may be wrapped (AwareTrackerStore / FailSafeTrackerStore).
    while getattr(store, "_tracker_store", None) is not None:
        store = store._tracker_store
    return await asyncio.to_thread(_read_store, store)


def _ping_locks(locks: Any) -> str:
    redis = getattr(locks, "red", None)
    if redis is not None:
        redis.ping()
    return OK


async def _lock_store(agent: Any) -> str:
    locks = getattr(agent, "lock_store", None)
    if locks is None:
        return "aucun magasin de verrous"
    return await asyncio.to_thread(_ping_locks, locks)


async def check_agent(agent: Any, timeout: float = TIMEOUT_SECONDS) -> Readiness:
    """The four checks of Rasa's `agent` (None before it has started)."""
    return await run_checks(
        {
            "model": lambda: _model(agent),
            "actions": lambda: _actions(agent),
            "conversation_store": lambda: _conversation_store(agent),
            "lock_store": lambda: _lock_store(agent),
        },
        timeout,
    )
