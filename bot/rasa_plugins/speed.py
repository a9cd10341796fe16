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

`apply()` is idempotent; `bot.rasa_plugins.patches.apply()` calls it, and
`tests/rasa_plugins/test_speed.py` ties each change to the pinned Rasa version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["action_response_validator", "apply"]

_applied = False
_validator: Any = None


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


def apply() -> None:
    """Applies the speed changes to Rasa, once (the Rasa version is checked by `patches.apply`)."""
    global _applied
    if _applied:
        return
    _patch_action_result_validation()
    _applied = True
