"""The speed changes to Rasa (bot.rasa_plugins.speed): tied to the pinned version, and refusing what Rasa refuses."""

from __future__ import annotations

import asyncio
import inspect
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import rasa
import rasa.core.actions.action
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.engine import loader
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.runner.interface import GraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet, UserUttered
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


# --- the prediction graph without dask: same nodes, same results

STOCK_RUNNER_USE = """                metadata, runner = loader.load_predict_graph_runner(
                    Path(temporary_directory),
                    Path(model_tar),
                    LocalModelStorage,
                    DaskGraphRunner,
                )"""

MESSAGES = ("quand passe la collecte a balma", "merci", "slt", "qui a gagné le prix icapital ?")


def test_rasa_still_loads_its_model_with_the_runner_named_in_the_processor() -> None:
    import rasa.core.processor

    assert STOCK_RUNNER_USE in inspect.getsource(rasa.core.processor.MessageProcessor)
    patches.apply()
    assert rasa.core.processor.DaskGraphRunner is speed.SequentialGraphRunner


def _runners(model: Path, tmp_path: Path) -> tuple[Any, GraphRunner, GraphRunner]:
    metadata, stock = loader.load_predict_graph_runner(
        tmp_path / "stock", model, LocalModelStorage, DaskGraphRunner
    )
    _, ours = loader.load_predict_graph_runner(
        tmp_path / "ours", model, LocalModelStorage, speed.SequentialGraphRunner
    )
    return metadata, stock, ours


def _tracker(domain: Domain, text: str, intent: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "citoyen",
        [
            ActionExecuted(ACTION_LISTEN_NAME),
            UserUttered(text, intent={"name": intent, "confidence": 0.9}),
        ],
        slots=domain.slots,
    )


def test_the_sequential_runner_gives_dasks_results(model: Path, tmp_path: Path) -> None:
    (tmp_path / "stock").mkdir()
    (tmp_path / "ours").mkdir()
    metadata, stock, ours = _runners(model, tmp_path)
    for text in MESSAGES:
        tracker = _tracker(metadata.domain, text, "saluer")
        parsed = [
            runner.run(
                inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)], PLACEHOLDER_TRACKER: tracker},
                targets=[metadata.nlu_target],
            )[metadata.nlu_target][0]
            for runner in (stock, ours)
        ]
        for key in ("intent", "intent_ranking", "entities"):
            assert parsed[0].get(key) == parsed[1].get(key), (text, key)
    for intent in ("saluer", "collecte_dechets", "remercier"):
        tracker = _tracker(metadata.domain, "…", intent)
        stock_prediction, our_prediction = (
            runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[metadata.core_target])[
                metadata.core_target
            ]
            for runner in (stock, ours)
        )
        assert our_prediction.probabilities == stock_prediction.probabilities
        assert our_prediction.policy_name == stock_prediction.policy_name


def test_the_sequential_runner_refuses_an_input_named_like_a_node(
    model: Path, tmp_path: Path
) -> None:
    (tmp_path / "stock").mkdir()
    (tmp_path / "ours").mkdir()
    metadata, _, ours = _runners(model, tmp_path)
    node = next(iter(ours._graph_schema.nodes))  # type: ignore[attr-defined]
    with pytest.raises(GraphRunError):
        ours.run(inputs={PLACEHOLDER_TRACKER: node}, targets=[metadata.core_target])


# --- event classes found once per name, as Rasa finds them


def test_events_read_back_are_rasas_classes_with_the_same_values() -> None:
    patches.apply()
    events = [
        UserUttered("bonjour", intent={"name": "saluer", "confidence": 1.0}),
        ActionExecuted(ACTION_LISTEN_NAME),
        SlotSet("commune", "Balma"),
        SessionStarted(),
    ]
    for event in events:
        again = Event.from_parameters(event.as_dict())
        assert type(again) is type(event)
        assert again == event
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("pas_un_evenement")
    assert Event.resolve_by_type("pas_un_evenement", default=SlotSet) is SlotSet


# --- connections to the action server kept open, and a closed one retried


async def _count_connections(replies: int, restart_after: int | None = None) -> tuple[int, int]:
    """Runs `replies` custom actions against a local action server; (answers, connections it accepted)."""
    peers: set[tuple[str, int]] = set()

    async def webhook(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        return web.json_response(VALID)

    port = _free_port()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    runner = await start()
    domain = Domain.from_dict({"slots": {"commune": {"type": "text", "mappings": []}}})
    action = RemoteAction(
        "action_repondre_question", EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    )
    answers = 0
    try:
        for number in range(replies):
            if number == restart_after:
                await runner.cleanup()  # the action server restarts: kept connections are closed
                runner = await start()
            events = await action.run(
                CollectingOutputChannel(),
                TemplatedNaturalLanguageGenerator(domain.responses),
                DialogueStateTracker("citoyen", domain.slots),
                domain,
            )
            answers += [(e.key, e.value) for e in events] == [("commune", "Balma")]
    finally:
        await speed.close_sessions()
        await runner.cleanup()
    return answers, len(peers)


def test_custom_actions_reuse_one_connection() -> None:
    patches.apply()
    assert asyncio.run(_count_connections(10)) == (10, 1)


def test_a_connection_closed_by_a_restarted_action_server_is_retried_on_a_new_one() -> None:
    patches.apply()
    answers, connections = asyncio.run(_count_connections(6, restart_after=3))
    assert answers == 6
    assert connections == 2
