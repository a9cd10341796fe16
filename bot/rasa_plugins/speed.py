"""Changes to Rasa 3.6.21 that make a turn cheaper without changing what the citizen sees.

Each one removes work Rasa repeats at every turn although its result cannot
change while the server runs; the replies and the stored events stay the same
(`tests/e2e/test_recorded_conversations.py` replays recorded conversations).

- **The action server's reply is checked against a validator built once.**
  `RemoteAction._validate_action_result` calls `jsonschema.validate`, which
  first re-checks Rasa's own response schema against the JSON Schema
  meta-schema, then builds a validator, at every custom action: about half of
  the Rasa server's CPU under load (26 ms a call against 0.3 ms). Here the
  schema (still `RemoteAction.action_response_format_spec()`) is checked and
  its validator built the first time, and every reply is still validated,
  with the same error (`jsonschema.ValidationError`, Rasa's message appended)
  when it does not conform.

- **The prediction graph runs in a plain loop.** Rasa runs its model's
  graph (the NLU pipeline, then the policies, twice a turn or more) through
  dask's synchronous scheduler, which rebuilds and orders a task graph at
  every call. `SequentialGraphRunner` orders each set of targets once, then
  calls the same nodes, with the same inputs, in that order. Training still
  uses Rasa's runner.
- **An event's class is found once per event name.** Rasa rebuilds the list
  of every `Event` subclass (and asks each whether it is abstract) for every
  stored event it reads back: tens per turn. The answer is kept per name,
  computed by Rasa's own method the first time.

- **Connections to the action server are kept open.** Rasa opens a new
  HTTP client session, so a new TCP connection, for every custom action
  (and the action server accepts one): here each endpoint keeps one session
  per event loop, whose idle connections are reused and closed after
  `KEEPALIVE_SECONDS`, before the action server's own 5 s keep-alive ends
  them. A reused connection the action server closed in the meantime (it
  restarted) is retried once on a new one: the actions only compose answers,
  so a retry changes nothing. The sessions close with the server.

`apply()` is idempotent; `bot.rasa_plugins.patches.apply()` calls it, and
`tests/rasa_plugins/test_speed.py` ties each change to the pinned Rasa version.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner

__all__ = [
    "KEEPALIVE_SECONDS",
    "SequentialGraphRunner",
    "action_response_validator",
    "apply",
    "close_sessions",
]

_applied = False
_validator: Any = None

# Below the 5 s after which Sanic (the action server) closes an idle connection.
KEEPALIVE_SECONDS = 3.0
# Attribute of an `EndpointConfig`: its (event loop, aiohttp session).
_SESSION = "_bot_session"
# (event loop, generator closing its session), for `close_sessions`.
_open_sessions: list[tuple[Any, Any]] = []


def action_response_validator() -> Any:
    """The validator of Rasa's own action-server response schema, built (and its schema checked) once."""
    global _validator
    if _validator is None:
        from jsonschema.validators import validator_for
        from rasa.core.actions.action import RemoteAction

        schema = RemoteAction.action_response_format_spec()
        cls = validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    return _validator


def _patch_action_result_validation() -> None:
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    original: Callable[..., bool] = RemoteAction._validate_action_result

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        # What `jsonschema.validate` does, minus re-checking the schema each time.
        error = best_match(action_response_validator().iter_errors(result))
        if error is not None:
            error.message += (
                f". Failed to validate Action server response from API, "
                f"make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    _validate_action_result.__doc__ = original.__doc__
    RemoteAction._validate_action_result = _validate_action_result


class SequentialGraphRunner(DaskGraphRunner):
    """Rasa's graph runner without dask: each needed node once, its inputs before it, in a plain loop.

    Same nodes (built by `DaskGraphRunner`), same inputs, same results as
    `DaskGraphRunner.run`: a node receives `(name, output)` for each node or
    input it needs, and the bare name of one that nothing provides (as dask
    passes an unknown key); an input named like a node is refused.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._orders: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = {}

    def _order(self, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        """The nodes the targets need, each after the nodes it needs, with those nodes' names."""
        order = self._orders.get(targets)
        if order is None:
            nodes = self._graph_schema.minimal_graph_schema(list(targets)).nodes
            order = []
            placed: set[str] = set()

            def place(name: str, path: tuple[str, ...]) -> None:
                if name in placed or name not in nodes:
                    return
                if name in path:
                    raise GraphRunError(f"Cycle in the graph through '{name}'.")
                needs = tuple(nodes[name].needs.values())
                for need in needs:
                    place(need, (*path, name))
                placed.add(name)
                order.append((name, needs))

            for target in targets:
                place(target, ())
            self._orders[targets] = order
        return order

    def run(
        self,
        inputs: dict[str, Any] | None = None,
        targets: list[str] | None = None,
    ) -> dict[str, Any]:
        """Runs the graph (see `rasa.engine.runner.interface.GraphRunner.run`)."""
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        order = self._order(run_targets)
        results: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            results[name] = (name, value)
        try:
            for name, needs in order:
                results[name] = self._instantiated_nodes[name](
                    *(results.get(need, need) for need in needs)
                )
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(results[target] for target in run_targets)


def _patch_graph_runner() -> None:
    import rasa.core.processor

    # The name `MessageProcessor._load_model` passes to Rasa's model loader.
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner


def _patch_event_resolution() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    known: dict[str, type[Event]] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        event_class = known.get(type_name)
        if event_class is None:
            event_class = original(type_name, default)
            # A default or a refusal depends on the call: only a found class is kept.
            if event_class is not None and event_class is not default:
                known[type_name] = event_class
        return event_class

    resolve_by_type.__doc__ = original.__doc__
    Event.resolve_by_type = staticmethod(resolve_by_type)


async def _closed_with_its_loop(session: Any) -> AsyncIterator[None]:
    """Closes `session` when its event loop finalizes it (`asyncio.run`, Sanic) or `close_sessions` does."""
    try:
        yield
    finally:
        await session.close()


async def _endpoint_session(endpoint: Any) -> Any:
    """The endpoint's kept-open aiohttp session in the running event loop (Rasa's settings, pooled)."""
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    held = getattr(endpoint, _SESSION, None)
    if held is not None and held[0] is loop and not held[1].closed:
        return held[1]
    auth = None
    if endpoint.basic_auth:
        auth = aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
    session = aiohttp.ClientSession(
        headers=endpoint.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
    )
    # A started async generator is closed by its loop's `shutdown_asyncgens`,
    # which `asyncio.run` calls: the session never outlives its loop unclosed.
    closer = _closed_with_its_loop(session)
    await closer.__anext__()
    setattr(endpoint, _SESSION, (loop, session))
    _open_sessions[:] = [held for held in _open_sessions if not held[0].is_closed()]
    _open_sessions.append((loop, closer))
    return session


async def close_sessions(*_: Any) -> None:
    """Closes the kept-open sessions of the running event loop (a Sanic `after_server_stop` listener)."""
    loop = asyncio.get_running_loop()
    for held in [held for held in _open_sessions if held[0] is loop]:
        _open_sessions.remove(held)
        await held[1].aclose()


def _patch_endpoint_requests() -> None:
    import rasa.core.run
    from rasa.utils.endpoints import EndpointConfig

    original: Callable[..., Any] = EndpointConfig.request

    async def request(
        self: EndpointConfig,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        import aiohttp
        from aiohttp.client_exceptions import ContentTypeError
        from rasa.utils.endpoints import ClientResponseError, concat_url

        if self.cafile:
            # Rare (TLS with a private authority): Rasa's own way, a session per request.
            return await original(self, method, subpath, content_type, compress, **kwargs)
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.pop("headers", {}))
        headers.update(self.headers)
        url = concat_url(self.url, subpath)
        params = self.combine_parameters(kwargs)
        for attempt in (1, 2):
            try:
                async with (await _endpoint_session(self)).request(
                    method, url, headers=headers, params=params, compress=compress, **kwargs
                ) as response:
                    if response.status >= 400:
                        raise ClientResponseError(
                            response.status, response.reason, await response.content.read()
                        )
                    try:
                        return await response.json()
                    except ContentTypeError:
                        return None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                # A kept-open connection the server had closed: once more, on a new one.
                if attempt == 2:
                    raise
        return None  # not reached

    request.__doc__ = original.__doc__
    EndpointConfig.request = request

    configure_app: Callable[..., Any] = rasa.core.run.configure_app

    def configure_app_closing_sessions(*args: Any, **kwargs: Any) -> Any:
        app = configure_app(*args, **kwargs)
        app.register_listener(close_sessions, "after_server_stop")
        return app

    rasa.core.run.configure_app = configure_app_closing_sessions


def apply() -> None:
    """Applies the speed changes to Rasa, once (the Rasa version is checked by `patches.apply`)."""
    global _applied
    if _applied:
        return
    _patch_action_result_validation()
    _patch_graph_runner()
    _patch_event_resolution()
    _patch_endpoint_requests()
    _applied = True
