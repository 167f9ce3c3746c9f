"""DATABASE_URL in Heroku's form: postgres://user:pass@host:port/db?sslmode=require.

Query parameters are libpq's and reach psycopg2 as such; anything else is a
one-line ConfigError naming DATABASE_URL that never shows the password.
Connections are made for real: to the local server (SSL off here) and to a
throwaway server of our own with ssl=on (the ``ssl_postgres`` fixture).
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import peewee
import psycopg2
import pytest

from tarotbot import db as tdb
from tarotbot.config import load_settings
from tarotbot.db import check_connection, make_database, postgres_kwargs
from tarotbot.exceptions import ConfigError

PASSWORD = "pg-secret-hunter2"


def heroku_url(pg_url: str, query: str = "") -> str:
    """This run's database as Heroku writes it: scheme postgres, a password, a query."""
    parts = urlsplit(pg_url)
    url = f"postgres://{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}{parts.path}"
    return url + (f"?{query}" if query else "")


def _connection_ssl(database: peewee.Database) -> bool:
    sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    return database.execute_sql(sql).fetchone()[0]


def _local_server_ssl(pg_url: str) -> bool:
    conn = psycopg2.connect(pg_url, connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW ssl")
            return cur.fetchone()[0] == "on"
    finally:
        conn.close()


def test_query_parameters_reach_psycopg2():
    url = (
        "postgres://u%40x:p%40ss%2Fw@db.example.com:6543/tarot"
        "?sslmode=require&application_name=tarot%20bot&connect_timeout=9"
    )
    kwargs = postgres_kwargs(load_settings({"DATABASE_URL": url}).database_url)
    assert kwargs == {
        "database": "tarot",
        "host": "db.example.com",
        "port": 6543,
        "user": "u@x",
        "password": "p@ss/w",
        "sslmode": "require",
        "application_name": "tarot bot",
        "connect_timeout": "9",
    }


def test_dbname_in_the_query_wins_as_in_libpq():
    settings = load_settings({"DATABASE_URL": "postgresql://h/one?dbname=two"})
    assert postgres_kwargs(settings.database_url)["database"] == "two"
    assert settings.database_label == "PostgreSQL h/two"


def test_our_defaults_yield_to_the_url():
    url = "postgres://u:pw@h/db?connect_timeout=11&application_name=web"
    database = make_database(load_settings({"DATABASE_URL": url}))
    assert database.connect_params["connect_timeout"] == "11"
    assert database.connect_params["application_name"] == "web"
    assert "sslmode" not in database.connect_params  # libpq's default (prefer) stays


@pytest.mark.parametrize(
    "query",
    [
        "sslmode=require&foo=bar",
        "ssl=true",  # JDBC's spelling, not libpq's
        "thread_safe=0",  # a peewee argument: must not reach peewee
        "autoconnect=0",
        "max_connections=1000",  # a pool argument
        "sslmode=require&sslmode=disable",
        "sslmode=yes",
        "sslmode",  # no value
        "%FF=1",  # not even a name
    ],
)
def test_unknown_or_malformed_query_parameters_are_one_line(query):
    url = f"postgres://user:{PASSWORD}@db.example.com:5432/tarot?{query}"
    with pytest.raises(ConfigError) as info:
        load_settings({"DATABASE_URL": url})
    message = str(info.value)
    assert info.value.variable == "DATABASE_URL"
    assert message.startswith("DATABASE_URL: ")
    assert "\n" not in message
    assert PASSWORD not in message


def test_a_parameter_this_libpq_does_not_know_is_one_line():
    """libpq itself decides which query parameters are connection parameters."""
    with pytest.raises(ConfigError) as info:
        load_settings({"DATABASE_URL": f"postgres://u:{PASSWORD}@h/db?no_such_opt=1"})
    assert info.value.variable == "DATABASE_URL"
    assert "'no_such_opt'" in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("sslmode", ["prefer", "disable", "allow"])
@pytest.mark.parametrize("pooled", [False, True])
def test_heroku_form_connects_to_the_local_server(pg_url, sslmode, pooled):
    settings = load_settings({"DATABASE_URL": heroku_url(pg_url, f"sslmode={sslmode}")})
    assert PASSWORD not in settings.database_label
    tdb.init_database(settings, pooled=pooled)
    try:
        check_connection(settings)
        with tdb.connection():
            assert tdb.database.execute_sql("SELECT 1").fetchone()[0] == 1
            if sslmode == "disable":
                assert _connection_ssl(tdb.database) is False
    finally:
        tdb.database.close()
        if pooled:
            tdb.database.obj.close_all()


def test_sslmode_require_against_the_local_server(pg_url):
    """Require is honoured: it connects over SSL, or fails in one line if the server has none."""
    settings = load_settings({"DATABASE_URL": heroku_url(pg_url, "sslmode=require")})
    tdb.init_database(settings)
    try:
        if _local_server_ssl(pg_url):
            check_connection(settings)
            with tdb.connection():
                assert _connection_ssl(tdb.database) is True
            return
        with pytest.raises(ConfigError) as info:
            check_connection(settings)
        message = str(info.value)
        assert info.value.variable == "DATABASE_URL"
        assert "SSL" in message  # "server does not support SSL, but SSL was required"
        assert "\n" not in message
        assert PASSWORD not in message
    finally:
        tdb.database.close()


def test_sslmode_require_connects_over_ssl(ssl_postgres):
    port, _certificate = ssl_postgres
    url = f"postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=require"
    settings = load_settings({"DATABASE_URL": url})
    for pooled in (False, True):
        tdb.init_database(settings, pooled=pooled)
        try:
            check_connection(settings)
            with tdb.connection():
                assert _connection_ssl(tdb.database) is True
        finally:
            tdb.database.close()
            if pooled:
                tdb.database.obj.close_all()


def test_sslmode_verify_full_checks_the_certificate(ssl_postgres):
    port, certificate = ssl_postgres
    base = f"postgres://postgres:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=verify-full"
    trusting = load_settings({"DATABASE_URL": f"{base}&sslrootcert={certificate.cert}"})
    tdb.init_database(trusting)
    try:
        check_connection(trusting)
        with tdb.connection():
            assert _connection_ssl(tdb.database) is True
    finally:
        tdb.database.close()
    # Without the certificate as root, libpq refuses the self-signed server, in one line.
    missing_root = load_settings(
        {"DATABASE_URL": f"{base}&sslrootcert={certificate.cert.parent / 'none.crt'}"}
    )
    tdb.init_database(missing_root)
    try:
        with pytest.raises(ConfigError) as info:
            check_connection(missing_root)
    finally:
        tdb.database.close()
    assert info.value.variable == "DATABASE_URL"
    assert "\n" not in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize("query", ["sslmode=bogus", "foo=bar", "sslmode=disable&sslmode=require"])
def test_cli_stops_on_a_bad_query_with_one_line(query, pg_url, tmp_path, clean_env):
    env = {**clean_env, "DATABASE_URL": heroku_url(pg_url, query)}
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "migrate", "--list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DATABASE_URL: ")
    assert PASSWORD not in result.stderr


def test_cli_migrate_list_accepts_the_heroku_form(pg_url, tmp_path, clean_env):
    env = {**clean_env, "DATABASE_URL": heroku_url(pg_url, "sslmode=prefer")}
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "migrate", "--list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
