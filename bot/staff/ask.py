"""Asks the running bot a question, as a citizen would, and shows the answer in the terminal.

Usage:
    python -m bot demander "quand passe la collecte ?" [--commune Balma] [--port 5005]
    make demander Q="quand passe la collecte ?" COMMUNE=Balma

Goes through Rasa's REST channel on loopback, like the Telegram bridge: the
same understanding, knowledge and answers citizens get. Each call is a new
conversation whose id starts with `STAFF_SENDER_PREFIX`, so the weekly report
leaves staff's own questions out.
"""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["STAFF_SENDER_PREFIX", "BotUnreachable", "ask", "render", "rest_url"]

STAFF_SENDER_PREFIX = "agent-"
_WIDTH = 78


class BotUnreachable(RuntimeError):
    """The bot did not answer; the message says why in French and what to do."""


def rest_url(port: int = 5005) -> str:
    """The REST channel of a bot started by `make run` on this machine."""
    return f"http://127.0.0.1:{port}/webhooks/rest/webhook"


@dataclass
class _Conversation:
    url: str
    sender: str
    timeout: float

    def send(self, text: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"sender": self.sender, "message": text}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            body = error.read()  # 503 carries the text citizens read ("service indisponible")
            if error.code != 503:
                raise BotUnreachable(
                    f"Le bot a refusé la question (code HTTP {error.code}) : "
                    f"{body.decode('utf-8', 'replace')[:300]}"
                ) from None
        except (urllib.error.URLError, ConnectionError) as error:
            raise BotUnreachable(
                f"Le bot ne répond pas à {self.url} ({_reason(error)}). Est-il démarré ? "
                "Lancez « make run » dans un autre terminal, attendez « Le bot est prêt », "
                "puis reposez la question."
            ) from None
        except TimeoutError:
            raise BotUnreachable(
                f"Le bot n'a pas répondu en {self.timeout:.0f} secondes : il démarre peut-être "
                "encore (environ une minute après « make run »). Réessayez."
            ) from None
        replies = json.loads(body or b"[]")
        return [r for r in replies if isinstance(r, dict)] if isinstance(replies, list) else []


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", error)
    if isinstance(reason, ConnectionRefusedError):
        return "connexion refusée"
    if isinstance(reason, TimeoutError):
        return "délai dépassé"
    return str(reason)


def ask(
    question: str, *, commune: str | None = None, url: str | None = None, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The bot's replies to `question`, in a new conversation (after giving `commune`, if any).

    Raises:
        BotUnreachable: the bot is not running, or did not answer.
    """
    conversation = _Conversation(
        url or rest_url(), f"{STAFF_SENDER_PREFIX}{uuid.uuid4().hex[:12]}", timeout
    )
    if commune:
        conversation.send(commune)
    return conversation.send(question)


def _wrap(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            lines.append("")
            continue
        bullet = line.lstrip().startswith(("- ", "• "))
        lines.extend(
            textwrap.wrap(
                line.strip(),
                _WIDTH,
                initial_indent=indent,
                subsequent_indent=indent + ("  " if bullet else ""),
                break_on_hyphens=False,
            )
        )
    return lines


def render(replies: list[dict[str, Any]]) -> str:
    """The replies as a citizen reads them: each message's text, then its buttons."""
    if not replies:
        return "(Le bot n'a rien répondu.)"
    blocks: list[str] = []
    for reply in replies:
        lines = _wrap(str(reply.get("text") or ""), "  ")
        buttons = [b for b in reply.get("buttons") or [] if isinstance(b, dict)]
        if buttons:
            lines.append("")
            lines.extend(f"  [ {button.get('title', '')} ]" for button in buttons)
        image = reply.get("image")
        if image:
            lines.append(f"  (image : {image})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
