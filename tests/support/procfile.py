"""Run the Procfile's processes as a PaaS does: each line through bash, SIGTERM to stop.

A :class:`Deployment` reads the repository's own ``Procfile`` (``name: command``
lines; a commented ``# web: ...`` line is the optional webhook process), starts
any of them with ``bash -c COMMAND`` (as Heroku does) in a process group of its own, with
the environment a PaaS gives (``postgres://`` URL, ``PORT``, ``python`` on the
PATH), stops them with SIGTERM and a 30-second deadline, and keeps each
process's log. Nothing here knows the app: it only runs its command lines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE_RE = re.compile(r"^(#\s*)?([A-Za-z0-9_-]+):\s*(.+)$")
#: Heroku sends SIGTERM, then SIGKILL after this many seconds.
STOP_DEADLINE = 30.0


def read_procfile(path: Path = ROOT / "Procfile") -> tuple[dict[str, str], dict[str, str]]:
    """``(active, commented)``: process name -> command line."""
    active: dict[str, str] = {}
    commented: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = LINE_RE.match(line.strip())
        if match:
            (commented if match.group(1) else active)[match.group(2)] = match.group(3).strip()
    return active, commented


@dataclass
class Process:
    name: str
    command: str
    popen: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    stopped_in: float | None = None  # seconds from SIGTERM to exit

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_group_gone(pgid: int, deadline: float) -> None:
    """Wait until every process of the group has exited (the dyno is empty)."""
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(f"process group {pgid}", STOP_DEADLINE)
        time.sleep(0.05)


class Deployment:
    """The Procfile's processes against one environment (see the module doc)."""

    def __init__(self, env: dict[str, str], log_dir: Path, procfile: Path = ROOT / "Procfile"):
        active, commented = read_procfile(procfile)
        self.commands = {**commented, **active}
        self.active = active
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            **env,
        }
        self.log_dir = log_dir
        self.running: dict[str, list[Process]] = {}
        self.finished: list[Process] = []
        self._count = 0

    # -- one-off commands (release) -------------------------------------------
    def run_once(self, name: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/bash", "-c", self.commands[name]],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # -- long-lived processes --------------------------------------------------
    def start(self, name: str, extra_env: dict[str, str] | None = None) -> Process:
        self._count += 1
        log_path = self.log_dir / f"{self._count:02d}-{name}.log"
        with open(log_path, "w") as log:
            popen = subprocess.Popen(
                ["/bin/bash", "-c", self.commands[name]],
                env={**self.env, **(extra_env or {})},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a dyno: SIGTERM reaches the shell and its children
            )
        process = Process(name, self.commands[name], popen, log_path)
        self.running.setdefault(name, []).append(process)
        return process

    def stop(self, process: Process, sig: int = signal.SIGTERM) -> Process:
        """Signal the process group; SIGKILL it if it outlives the PaaS's deadline."""
        began = time.monotonic()
        try:
            os.killpg(process.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.popen.wait(timeout=STOP_DEADLINE)
            _wait_group_gone(process.popen.pid, began + STOP_DEADLINE)
            process.stopped_in = time.monotonic() - began
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(timeout=10)
        self.running[process.name].remove(process)
        self.finished.append(process)
        return process

    def kill(self, process: Process) -> Process:
        return self.stop(process, signal.SIGKILL)

    def stop_all(self, order: list[str] | None = None) -> list[Process]:
        names = order or list(self.running)
        stopped = []
        for name in names:
            for process in list(self.running.get(name, [])):
                stopped.append(self.stop(process))
        return stopped

    def processes(self) -> list[Process]:
        return [p for group in self.running.values() for p in group]

    def exited_on_their_own(self) -> list[Process]:
        return [p for p in self.processes() if p.popen.poll() is not None]

    def tracebacks(self) -> dict[str, str]:
        """Process log -> its text, for every log that holds a traceback."""
        found = {}
        for process in [*self.finished, *self.processes()]:
            text = process.log()
            if "Traceback" in text:
                found[process.log_path.name] = text[-3000:]
        return found

    def close(self) -> None:
        for process in self.processes():
            try:
                os.killpg(process.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.popen.wait(timeout=10)
