"""`endpoints.yml` as a run and the staff's tools need it: this run's action server and database, the store's URL.

- `runtime_endpoints` writes the copy the Rasa server of one run reads:
  the action server's port of the run, the SQLite file at an absolute path
  (or the run's own database). Private (0600): a database password may be in it.
- `database_url` reads the conversation store the way Rasa does (`${VAR}`
  expanded from the environment) and builds its SQLAlchemy URL, for the
  report and the purge. It imports Rasa and SQLAlchemy, so only when called.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.paths import PROJECT_ROOT, private_dir, write_private

__all__ = ["ENDPOINTS", "EndpointsError", "database_url", "runtime_endpoints"]

ENDPOINTS = PROJECT_ROOT / "endpoints.yml"


class EndpointsError(ValueError):
    """The conversation store cannot be read from the endpoints file; the message says why, in French."""


def runtime_endpoints(
    source: Path,
    target: Path,
    *,
    actions_url: str,
    database: Path | None = None,
    cwd: Path = PROJECT_ROOT,
) -> Path:
    """Writes to `target` (0600, in a 0700 folder) `source` with this run's action server and database.

    Args:
        source: the project's endpoints file.
        target: the run's copy.
        actions_url: the run's action server webhook.
        database: the run's SQLite file, instead of the one `source` names.
        cwd: the folder a relative SQLite path in `source` is relative to.
    """
    with source.open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["action_endpoint"]["url"] = actions_url
    store = config.get("tracker_store") or {}
    if database is not None and store.get("dialect") == "sqlite":
        store["db"] = str(database)
    elif store.get("dialect") == "sqlite":
        store["db"] = str((cwd / store["db"]).resolve())
    private_dir(target.parent)
    write_private(target, yaml.safe_dump(config, allow_unicode=True))
    return target


def _userinfo(value: object) -> str | None:
    """A user name or password for `URL.create`, kept whole through the URL's text.

    SQLAlchemy 1.4 escapes ":", "@" and "/" when it renders a URL, but not
    "%", which it unescapes when it parses one: "%41" would come back as "A".
    """
    return None if value is None else str(value).replace("%", "%25")


def database_url(endpoints: Path | None = None, *, root: Path = PROJECT_ROOT) -> str:
    """The conversation store of `endpoints` (`ENDPOINTS`) as an SQLAlchemy URL, password included.

    Read as the Rasa server reads it (`${VAR}` taken from the environment);
    a relative SQLite path is relative to `root`, the servers' folder.

    Raises:
        EndpointsError: the file declares no store, or names a variable that is not set.
    """
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import read_endpoint_config
    from sqlalchemy.engine import URL

    endpoints = endpoints or ENDPOINTS
    if not endpoints.is_file():
        raise EndpointsError(
            f"{endpoints} : fichier introuvable ; donnez l'adresse de la base avec --base."
        )
    try:
        store = read_endpoint_config(str(endpoints), "tracker_store")
    except RasaException as error:
        missing = sorted(set(re.findall(r"\$\{(\w+)\}", str(error))))
        if missing:
            why = f"variable d'environnement non définie : {', '.join(missing)} ; définissez-la"
        else:
            why = f"lecture impossible ({error}) ; corrigez le fichier"
        raise EndpointsError(
            f"{endpoints} : {why}, ou donnez l'adresse de la base avec --base."
        ) from None
    if store is None:
        raise EndpointsError(
            f"{endpoints} : aucune base des conversations (tracker_store) ; "
            "donnez son adresse avec --base."
        )
    settings: dict[str, Any] = store.kwargs
    dialect = str(settings.get("dialect", "sqlite"))
    database = str(settings.get("db", "rasa.db"))
    if dialect == "sqlite":
        return str(URL.create("sqlite", database=str((root / database).resolve())))
    # Rasa's own reading of `url` (SQLTrackerStore.get_db_url): a whole URL, or a host with its port.
    host, port = store.url, settings.get("port")
    if host and "://" in host:
        return str(host)
    if host:
        parts = urlsplit(f"scheme://{host}")
        host, port = parts.hostname or host, parts.port or port
    url = URL.create(
        dialect,
        username=_userinfo(settings.get("username")),
        password=_userinfo(settings.get("password")),
        host=host,
        port=int(port) if port else None,
        database=database,
        query=settings.get("query") or {},
    )
    return url.render_as_string(hide_password=False)
