"""The ``emulator`` command: options from the environment, the printed URL, clean stop."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import requests
from click.testing import CliRunner

from tarotbot.cli.emulator import COMMANDS, emulator

COMMAND = [sys.executable, "-m", "tarotbot", "emulator"]


def test_command_is_exported_and_documents_its_env_vars():
    assert [emulator] == COMMANDS
    result = CliRunner().invoke(emulator, ["--help"])
    assert result.exit_code == 0
    for variable in ("TAROTBOT_EMULATOR_HOST", "TAROTBOT_EMULATOR_PORT"):
        assert variable in result.output


def test_serves_on_the_port_from_the_environment_until_sigterm(clean_env):
    env = {**clean_env, "TAROTBOT_EMULATOR_PORT": "0", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        COMMAND,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in process.stdout:
            if line.startswith("export TELEGRAM_API_URL="):
                url = line.split("=", 1)[1].strip()
                break
        assert url and url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/bot123456:cli-test/getMe", timeout=5).json()["ok"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "emulator stopped" in out
    assert "cli-test" not in out + err  # the token is never printed


def test_busy_port_is_a_one_line_error(clean_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--port", str(port)],
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.stderr
