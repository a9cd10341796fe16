"""The operations team's routes on the Rasa server: readiness for nginx and orchestrators, and metrics.

Registered in credentials.yml (Rasa then serves it under /webhooks/ops/):

    bot.ops.channel.OpsChannel:

Routes (no token: they say nothing about any conversation):
    GET /webhooks/ops/ready     200 {"status": "ok", "checks": {...}} when the model is loaded and
                                the action server, conversation store and lock store answer;
                                503 {"status": "indisponible", "checks": {name: reason}} otherwise
    GET /webhooks/ops/metrics   Prometheus text format (bot.ops.metrics)

It takes no messages. Building it makes Rasa's message processor note the
parsed intent of each turn for the not-understood count
(`bot.ops.metrics.observe_parsed_intents`, an observer that changes no
reply), and puts the JSON log format on Rasa's handlers when stderr is not a
terminal (`bot.ops.logs`): the channel is built after Rasa has set up its
logging.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.http import NO_STORE
from bot.channels.turns import Handler
from bot.ops import logs, metrics
from bot.ops.readiness import OK, check_agent

__all__ = ["OpsChannel"]

logger = logging.getLogger(__name__)


class OpsChannel(InputChannel):
    """Readiness and metrics routes for the operations team; receives no messages."""

    @classmethod
    def name(cls) -> str:
        return "ops"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> OpsChannel:
        return cls()

    def __init__(self) -> None:
        self._was_ready: bool | None = None
        metrics.observe_parsed_intents()
        logs.install()
        logger.info("ops channel: /webhooks/ops/ready and /webhooks/ops/metrics")

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        """The channel's routes, mounted by Rasa under /webhooks/ops/."""
        blueprint = Blueprint("ops_channel", __name__)

        async def ready(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            readiness = await check_agent(agent)
            # Probes come every few seconds: say when readiness changes, not at each one.
            if readiness.ready != self._was_ready:
                self._was_ready = readiness.ready
                failed = [
                    f"{name}: {result}" for name, result in readiness.checks.items() if result != OK
                ]
                if readiness.ready:
                    logger.info("ops channel: ready")
                else:
                    logger.warning("ops channel: not ready (%s)", ", ".join(failed))
            return response.json(
                readiness.as_json(), status=200 if readiness.ready else 503, headers=NO_STORE
            )

        async def exposition(request: Request) -> HTTPResponse:
            return response.raw(
                metrics.exposition(), content_type=metrics.CONTENT_TYPE, headers=NO_STORE
            )

        blueprint.add_route(ready, "/ready", methods=["GET"], name="ready")
        blueprint.add_route(exposition, "/metrics", methods=["GET"], name="metrics")
        return blueprint
