"""The speed changes to Rasa (bot.rasa_plugins.speed): tied to the pinned version, and refusing what Rasa refuses."""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import jsonschema
import pytest
import rasa
import rasa.core.actions.action
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_plugins import patches, speed

# Rasa 3.6.21's method, as the patch replaces it: any change upstream must be reviewed.
STOCK_VALIDATION = """    def _validate_action_result(self, result: Dict[Text, Any]) -> bool:
        from jsonschema import validate
        from jsonschema import ValidationError

        try:
            validate(result, self.action_response_format_spec())
            return True
        except ValidationError as e:
            e.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e
"""

VALID = {"events": [{"event": "slot", "name": "commune", "value": "Balma"}], "responses": []}
# An event without its "event" key, and a response that is not an object.
INVALIDS = [
    {"events": [{"name": "commune", "value": "Balma"}], "responses": []},
    {"events": [], "responses": ["texte"]},
    {"events": "aucun"},
]


# --- tied to Rasa 3.6.21


def test_the_replaced_method_is_still_rasas_as_expected() -> None:
    assert rasa.__version__ == patches.PATCHED_RASA_VERSION
    # The class's source is read from Rasa's file, so it is the stock one even once patched.
    assert STOCK_VALIDATION in inspect.getsource(RemoteAction)
    run = inspect.getsource(RemoteAction.run)
    assert "self._validate_action_result(response)" in run


def test_the_validator_checks_rasas_own_schema() -> None:
    validator = speed.action_response_validator()
    assert validator.schema == RemoteAction.action_response_format_spec()
    assert validator is speed.action_response_validator()  # built once


# --- same acceptance and refusals as stock Rasa


def _stock_error(result: dict[str, Any]) -> jsonschema.ValidationError:
    with pytest.raises(jsonschema.ValidationError) as stock:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    return stock.value


def test_a_valid_reply_is_accepted() -> None:
    patches.apply()
    assert RemoteAction._validate_action_result.__module__ == speed.__name__
    assert RemoteAction("action_repondre_question", None)._validate_action_result(VALID)


@pytest.mark.parametrize("result", INVALIDS)
def test_an_invalid_reply_is_refused_with_rasas_error(result: dict[str, Any]) -> None:
    patches.apply()
    with pytest.raises(jsonschema.ValidationError) as refused:
        RemoteAction("action_repondre_question", None)._validate_action_result(result)
    stock = _stock_error(result)
    assert refused.value.message.startswith(stock.message)
    assert "Failed to validate Action server response from API" in refused.value.message
    assert list(refused.value.absolute_path) == list(stock.absolute_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _run_against(reply: dict[str, Any]) -> list[Any]:
    """Runs a custom action against a local action server answering `reply`."""

    async def webhook(request: web.Request) -> web.Response:
        return web.json_response(reply)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        domain = Domain.from_dict({"slots": {"commune": {"type": "text", "mappings": []}}})
        action = RemoteAction(
            "action_repondre_question", EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        )
        return await action.run(
            CollectingOutputChannel(),
            TemplatedNaturalLanguageGenerator(domain.responses),
            DialogueStateTracker("citoyen", domain.slots),
            domain,
        )
    finally:
        await runner.cleanup()


def test_the_action_server_reply_still_goes_through_validation() -> None:
    patches.apply()
    events = asyncio.run(_run_against(VALID))
    assert [(e.key, e.value) for e in events] == [("commune", "Balma")]
    with pytest.raises(jsonschema.ValidationError) as refused:
        asyncio.run(_run_against(INVALIDS[0]))
    assert "Failed to validate Action server response from API" in refused.value.message
