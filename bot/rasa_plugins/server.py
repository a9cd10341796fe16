"""The Rasa server as this project runs it: Rasa's own command line, with the project's changes and a private token.

Usage (what `bot.processes.BotProcesses` starts; arguments are those of `rasa`):
    BOT_RASA_TOKEN=… python -m bot.rasa_plugins.server run --model models/bot-….tar.gz --enable-api …

- The HTTP API token comes from `BOT_RASA_TOKEN`, never from the command
  line: a process's arguments are visible to every local user (`ps`), its
  environment only to its owner.
- `bot.rasa_plugins.patches.apply()` runs before Rasa loads anything.
- The listening socket queues up to `SANIC_BACKLOG` (1024 unless set)
  connections not yet accepted, where Rasa's default is 100: under a burst
  the server's event loop accepts late, and with 100 the kernel drops new
  connections, which nginx sees as an instance that does not answer (it
  then stops sending it anything for a while). Queued, they wait their turn.
"""

from __future__ import annotations

import os
import sys

__all__ = ["BACKLOG", "BACKLOG_ENV", "TOKEN_ENV", "main"]

TOKEN_ENV = "BOT_RASA_TOKEN"
BACKLOG_ENV = "SANIC_BACKLOG"  # read by Rasa's `serve_application`
BACKLOG = "1024"


def main(argv: list[str] | None = None) -> None:
    """Starts Rasa's command line with `argv` (default: this process's arguments)."""
    from rasa.__main__ import main as rasa_main

    from bot.rasa_plugins import patches

    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--auth-token" in arguments:
        raise SystemExit(
            f"--auth-token refusé : il serait visible de tous (ps). Passez le jeton par {TOKEN_ENV}."
        )
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token and arguments[:1] == ["run"]:
        arguments += ["--auth-token", token]
    os.environ.setdefault(BACKLOG_ENV, BACKLOG)
    patches.apply()
    # Rasa reads its own arguments from sys.argv; /proc/<pid>/cmdline keeps the original ones.
    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main()
