"""REDIS_URL=rediss://:password@host:port with a self-signed certificate (Heroku Redis).

Against a real redis-server speaking TLS only (the ``tls_redis`` fixture):
the default REDIS_TLS_VERIFY=none connects; ``required`` refuses the
self-signed certificate with one line (and accepts it given it as
REDIS_TLS_CA_FILE); RQ and the worker command run over TLS.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis
from rq import Queue, SimpleWorker

from tarotbot.config import load_settings
from tarotbot.exceptions import ConfigError
from tarotbot.queue import check_redis, redis_from_settings, redis_tls_options


def test_default_settings_connect_over_tls(tls_redis):
    settings = load_settings({"REDIS_URL": tls_redis.url()})
    assert settings.redis_tls_verify == "none"
    conn = redis_from_settings(settings)
    check_redis(conn)
    assert conn.ping() is True
    assert conn.connection_pool.connection_class is redis.SSLConnection
    conn.set("tarotbot:tls-probe", "1", ex=10)
    assert conn.get("tarotbot:tls-probe") == b"1"
    conn.close()


def test_plain_redis_on_the_tls_port_is_a_one_line_error(tls_redis):
    url = tls_redis.url().replace("rediss://", "redis://")
    conn = redis_from_settings(load_settings({"REDIS_URL": url}))
    with pytest.raises(ConfigError) as info:
        check_redis(conn)
    message = str(info.value)
    assert message.startswith("REDIS_URL: cannot reach Redis")
    assert "\n" not in message
    assert tls_redis.password not in message


def test_required_refuses_the_self_signed_certificate_in_one_line(tls_redis):
    settings = load_settings({"REDIS_URL": tls_redis.url(), "REDIS_TLS_VERIFY": "required"})
    conn = redis_from_settings(settings)
    with pytest.raises(ConfigError) as info:
        check_redis(conn)
    message = str(info.value)
    assert info.value.variable == "REDIS_TLS_VERIFY"
    assert "self-signed certificate" in message
    assert "REDIS_TLS_VERIFY=none" in message  # the way out
    assert "\n" not in message and "Traceback" not in message
    assert tls_redis.password not in message
    assert info.value.__suppress_context__  # `from None`: no chained traceback either


def test_required_accepts_the_certificate_given_as_ca_file(tls_redis):
    settings = load_settings(
        {
            "REDIS_URL": tls_redis.url(),
            "REDIS_TLS_VERIFY": "required",
            "REDIS_TLS_CA_FILE": str(tls_redis.certificate.cert),
        }
    )
    conn = redis_from_settings(settings)
    check_redis(conn)  # the certificate names 127.0.0.1, so the host name check passes too
    assert conn.ping() is True
    conn.close()


def test_required_with_a_missing_ca_file_names_the_variable(tls_redis, tmp_path):
    settings = load_settings(
        {
            "REDIS_URL": tls_redis.url(),
            "REDIS_TLS_VERIFY": "required",
            "REDIS_TLS_CA_FILE": str(tmp_path / "missing.pem"),
        }
    )
    with pytest.raises(ConfigError) as info:
        redis_from_settings(settings)
    assert info.value.variable == "REDIS_TLS_CA_FILE"


def test_required_with_a_ca_file_that_is_no_certificate_names_the_variable(tls_redis):
    settings = load_settings(
        {
            "REDIS_URL": tls_redis.url(),
            "REDIS_TLS_VERIFY": "required",
            "REDIS_TLS_CA_FILE": str(tls_redis.certificate.key),  # a key, not a certificate
        }
    )
    with pytest.raises(ConfigError) as info:
        redis_from_settings(settings)
    assert info.value.variable == "REDIS_TLS_CA_FILE"
    assert "\n" not in str(info.value)


def test_tls_options_apply_to_rediss_urls_only():
    plain = load_settings({"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_TLS_VERIFY": "required"})
    assert redis_tls_options(plain) == {}
    assert redis_from_settings(plain).connection_pool.connection_class is redis.Connection
    tls = load_settings({"REDIS_URL": "rediss://:pw@127.0.0.1:6380/0"})
    assert redis_tls_options(tls) == {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
    strict = load_settings(
        {"REDIS_URL": "rediss://:pw@127.0.0.1:6380/0", "REDIS_TLS_VERIFY": "REQUIRED"}
    )
    assert redis_tls_options(strict) == {"ssl_cert_reqs": "required", "ssl_check_hostname": True}


def test_rq_round_trip_over_tls(tls_redis):
    conn = redis_from_settings(load_settings({"REDIS_URL": tls_redis.url(1)}))
    conn.flushdb()
    queue = Queue("maintenance", connection=conn)
    job = queue.enqueue("json.dumps", {"over": "tls"})
    assert queue.count == 1
    worker = SimpleWorker([queue], connection=conn)
    assert worker.work(burst=True) is True
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == '{"over": "tls"}'
    assert queue.count == 0
    conn.flushdb()
    conn.close()


def test_worker_command_runs_over_tls(tls_redis, app_env):
    url = tls_redis.url(2)
    conn = redis_from_settings(load_settings({"REDIS_URL": url}))
    conn.flushdb()
    job = Queue("maintenance", connection=conn).enqueue("jobs.diagnostics.database_identity")
    env = {**app_env, "REDIS_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert tls_redis.password not in result.stdout + result.stderr
    job.refresh()
    assert job.get_status() == "finished", (job.get_status(), job.exc_info)
    conn.flushdb()
    conn.close()


def test_worker_command_with_required_verification_stops_in_one_line(tls_redis, app_env):
    env = {**app_env, "REDIS_URL": tls_redis.url(), "REDIS_TLS_VERIFY": "required"}
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "REDIS_TLS_VERIFY" in lines[0] and "self-signed" in lines[0]
    assert tls_redis.password not in result.stderr
