"""The bot's processes: training the model when needed, and running the servers together, restarting those that stop.

Used by `python -m bot run`, the tests and the benchmarks, so all three start
the bot the same way.

    training       MODEL_INPUTS, model_fingerprint, train_if_needed (models named by their inputs)
    endpoints      the run's copy of endpoints.yml; the conversation store's URL for staff tools
    supervision    ProcessSpec, RestartPolicy, Supervisor: any processes, restarted with back-off
    bot_processes  BotProcesses: which processes the bot runs (ACTIONS, RASA, TELEGRAM)
    cluster        Cluster: PostgreSQL, Redis, several Rasa instances and nginx (`make cluster`);
                   imported by its command only
    quiet          other packages' deprecation notices kept out of sight unless --verbose;
                   `python -m bot.processes MODULE ARG…` starts a process that way

Importing this package imports neither Rasa nor SQLAlchemy.
"""

from bot.processes.bot_processes import ACTIONS, RASA, TELEGRAM, BotProcesses, telegram_bridge
from bot.processes.endpoints import EndpointsError, database_url, runtime_endpoints
from bot.processes.quiet import QUIET_ENV, library_warnings_silenced, python_command
from bot.processes.supervision import ProcessSpec, RestartPolicy, ServerDied, Supervisor
from bot.processes.training import MODEL_INPUTS, TrainingFailed, model_fingerprint, train_if_needed

__all__ = [
    "ACTIONS",
    "MODEL_INPUTS",
    "QUIET_ENV",
    "RASA",
    "TELEGRAM",
    "BotProcesses",
    "EndpointsError",
    "ProcessSpec",
    "RestartPolicy",
    "ServerDied",
    "Supervisor",
    "TrainingFailed",
    "database_url",
    "library_warnings_silenced",
    "model_fingerprint",
    "python_command",
    "runtime_endpoints",
    "telegram_bridge",
    "train_if_needed",
]
