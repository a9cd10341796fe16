"""The cluster's configuration, as written before any process starts (the real cluster: tests/e2e/test_cluster.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from bot.processes.cluster import CLUSTER_ENDPOINTS, Cluster


def _cluster(tmp_path: Path) -> Cluster:
    return Cluster(
        model=tmp_path / "model.tar.gz",
        port=7080,
        postgres_port=7432,
        redis_port=7379,
        rasa_ports=[7001, 7002],
        actions_ports=[7101, 7102],
        state_dir=tmp_path / "cluster",
    )


def test_the_committed_endpoints_hold_no_password() -> None:
    config = yaml.safe_load(CLUSTER_ENDPOINTS.read_text(encoding="utf-8"))
    assert config["tracker_store"]["password"] == "${BOT_CLUSTER_DB_PASSWORD}"
    assert config["lock_store"]["password"] == "${BOT_CLUSTER_REDIS_PASSWORD}"
    assert config["tracker_store"]["dialect"] == "postgresql"
    assert config["lock_store"]["type"] == "redis"


def test_each_instance_has_its_own_action_server_and_the_run_s_store_ports(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    second = yaml.safe_load(cluster.instance_endpoints(2).read_text(encoding="utf-8"))
    assert second["action_endpoint"]["url"] == "http://127.0.0.1:7102/webhook"
    assert second["tracker_store"]["port"] == 7432
    assert second["lock_store"]["port"] == 7379
    assert stat.S_IMODE(cluster.instance_endpoints(1).stat().st_mode) == 0o600


def test_nginx_balances_the_channels_over_every_instance_and_skips_a_dead_one(
    tmp_path: Path,
) -> None:
    conf = _cluster(tmp_path)._prepare_nginx().read_text(encoding="utf-8")
    assert "server 127.0.0.1:7001" in conf and "server 127.0.0.1:7002" in conf
    assert "listen 127.0.0.1:7080;" in conf
    assert "proxy_next_upstream error timeout non_idempotent;" in conf
    assert "@" + "UNAVAILABLE@" not in conf and "momentan" in conf


def test_secrets_are_generated_once_into_private_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("BOT_CLUSTER_DB_PASSWORD", "BOT_CLUSTER_REDIS_PASSWORD", "BOT_WEB_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("BOT_RASA_TOKEN", "t" * 40)
    cluster = _cluster(tmp_path)
    first = cluster.secrets()
    assert first == cluster.secrets()
    assert first["BOT_RASA_TOKEN"] == "t" * 40
    assert len(set(first.values())) == 4
    password = cluster.state_dir / "db-password"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
