"""The deployment files of `deploy/` (systemd, nginx with TLS, Helm) agree with the code they run.

What can be checked on one machine without a city's servers: the commands
the units and the chart start parse as the real command lines do, every
variable they set is one the code reads, the production endpoints read as
Rasa reads them, and nginx accepts its TLS configuration.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.channels.texts import UNAVAILABLE
from bot.paths import PROJECT_ROOT
from bot.processes.endpoints import database_url

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
PRODUCTION_ENV = {
    "BOT_ACTIONS_URL": "http://127.0.0.1:5291/webhook",
    "BOT_DB_HOST": "db.interne.example",
    "BOT_DB_PORT": "5432",
    "BOT_DB_NAME": "conversations",
    "BOT_DB_USER": "bot",
    "BOT_DB_PASSWORD": "mot:de@passe%41",
    "BOT_REDIS_HOST": "redis.interne.example",
    "BOT_REDIS_PORT": "6379",
    "BOT_REDIS_PASSWORD": "secret-redis",
}


def _service(path: Path, instance: str = "1") -> dict[str, list[str]]:
    """The [Service] settings of a unit, each with all its values (systemd allows repeats)."""
    settings: dict[str, list[str]] = {}
    section = ""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ").replace("%i", instance)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def _exec_start(path: Path, instance: str = "1") -> list[str]:
    return shlex.split(_service(path, instance)["ExecStart"][0])


def test_the_production_endpoints_read_as_rasa_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rasa.utils.endpoints import read_endpoint_config

    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    endpoints = DEPLOY / "endpoints-production.yml"
    url = database_url(endpoints)
    assert url.startswith("postgresql://bot:")
    assert url.endswith("@db.interne.example:5432/conversations")
    store = read_endpoint_config(str(endpoints), "tracker_store")
    assert store is not None
    assert store.type == "bot.rasa_plugins.tracker_store.WindowedSQLTrackerStore"
    assert store.kwargs["password"] == PRODUCTION_ENV["BOT_DB_PASSWORD"]
    locks = read_endpoint_config(str(endpoints), "lock_store")
    assert locks is not None and locks.type == "redis"
    assert locks.url == "redis.interne.example"
    assert locks.kwargs["password"] == "secret-redis"
    actions = read_endpoint_config(str(endpoints), "action_endpoint")
    assert actions is not None and actions.url == PRODUCTION_ENV["BOT_ACTIONS_URL"]


def test_production_uses_the_same_store_and_locks_as_the_cluster() -> None:
    production = yaml.safe_load((DEPLOY / "endpoints-production.yml").read_text(encoding="utf-8"))
    cluster = yaml.safe_load((PROJECT_ROOT / "endpoints-cluster.yml").read_text(encoding="utf-8"))
    for section in ("tracker_store", "lock_store"):
        assert production[section]["type"] == cluster[section]["type"]
    assert production["tracker_store"]["window"] == cluster["tracker_store"]["window"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_every_unit_starts_a_command_that_exists(unit: Path) -> None:
    command = _exec_start(unit)
    assert command[0] == "/opt/bot-citoyen/.venv/bin/python" and command[1] == "-m"
    module, arguments = command[2], command[3:]
    assert importlib.util.find_spec(module) is not None, module
    if module == "bot":
        from bot.cli import _parser

        _parser().parse_args(arguments)
    elif module == "bot.rasa_plugins.server":
        from rasa.__main__ import create_argument_parser

        parsed = create_argument_parser().parse_args(arguments)
        assert parsed.enable_api and parsed.interface == "127.0.0.1"
    else:
        assert module == "rasa_sdk" and arguments[:2] == ["--actions", "actions"]


def test_each_rasa_instance_talks_to_its_own_action_server() -> None:
    environment = _service(DEPLOY / "systemd" / "bot-rasa@.service", "2")["Environment"]
    actions = _exec_start(DEPLOY / "systemd" / "bot-actions@.service", "2")
    port = actions[actions.index("--port") + 1]
    assert f"BOT_ACTIONS_URL=http://127.0.0.1:{port}/webhook" in environment
    nginx = (DEPLOY / "nginx-tls.conf").read_text(encoding="utf-8")
    rasa_port = _exec_start(DEPLOY / "systemd" / "bot-rasa@.service", "2")
    assert f"127.0.0.1:{rasa_port[rasa_port.index('--port') + 1]}" in nginx


def test_every_variable_the_deployment_sets_is_read_by_the_bot() -> None:
    code = "\n".join(
        path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "bot").rglob("*.py")
    )
    production = (DEPLOY / "endpoints-production.yml").read_text(encoding="utf-8")
    named: set[str] = set()
    for path in [*UNITS, DEPLOY / "systemd" / "bot.env.example"]:
        named |= set(re.findall(r"\b(BOT_[A-Z_]+)\b", path.read_text(encoding="utf-8")))
    assert named
    unknown = {
        name for name in named if f'"{name}"' not in code and f"${{{name}}}" not in production
    }
    assert not unknown, f"variables que le bot ne lit pas : {sorted(unknown)}"


def test_the_helm_values_run_the_project_server_with_its_store_and_channels() -> None:
    from rasa.__main__ import create_argument_parser

    values = yaml.safe_load((DEPLOY / "helm" / "values-rasa.yaml").read_text(encoding="utf-8"))
    assert values["command"] == ["python", "-m", "bot.rasa_plugins.server"]
    parsed = create_argument_parser().parse_args(values["args"])
    assert parsed.enable_api
    settings = values["applicationSettings"]
    production = yaml.safe_load((DEPLOY / "endpoints-production.yml").read_text(encoding="utf-8"))
    assert settings["endpoints"]["trackerStore"]["type"] == production["tracker_store"]["type"]
    assert settings["endpoints"]["lockStore"]["type"] == "redis"
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert set(settings["credentials"]["additionalChannelCredentials"]) == set(credentials)
    assert values["readinessProbe"]["httpGet"]["path"] == "/webhooks/ops/ready"
    secrets = {entry["name"] for entry in values["extraEnv"]}
    assert {"BOT_RASA_TOKEN", "BOT_WEB_SECRET"} <= secrets


def test_nginx_answers_the_channels_french_notice_when_no_instance_answers() -> None:
    text = (DEPLOY / "nginx-tls.conf").read_text(encoding="utf-8")
    body = re.search(r"return 503 '(.*)';", text)
    assert body is not None
    assert json.loads(body.group(1)) == [{"recipient_id": "", "text": UNAVAILABLE}]


@pytest.mark.skipif(
    (shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists())
    or shutil.which("openssl") is None,
    reason="nginx ou openssl absent",
)
def test_nginx_accepts_the_tls_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    certificate, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=bot.example", "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx-tls.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/bot-citoyen/fullchain.pem", str(certificate))
    site = site.replace("/etc/ssl/bot-citoyen/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    client_body_temp_path {tmp_path};\n    include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
