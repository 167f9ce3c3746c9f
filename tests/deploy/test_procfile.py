"""The deployment as a PaaS runs it: every Procfile process together, started in any
order, restarted, stopped with SIGTERM within 30 s, crashed and started again.

Each process is started from the Procfile's own command line through a shell
(``TZ=UTC python …`` included), on a fresh database, this run's Redis and the
Bot API emulator, with the environment a PaaS gives. After every run: no
process exited on its own, and no process log holds a traceback.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

import pytest
import redis
from e2e_stack import audit, body, buttons, count_containing
from procfile import ROOT, STOP_DEADLINE, Deployment

from tarotbot.cli.runtime import PERIODIC_JOBS

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "deploy-suite-webhook-secret"
READING_DONE = "used · "


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Person:
    """One Telegram user, played through the emulator's driver."""

    def __init__(self, emulator, user_id: int):
        self.emulator = emulator
        self.id = user_id

    def messages(self) -> list[dict]:
        return self.emulator.messages(self.id)

    def wait(self, predicate, timeout: float = 30.0, what: str = "") -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages()
            if predicate(messages):
                return messages
            time.sleep(0.05)
        texts = [body(m)[:80] for m in self.messages()]
        raise AssertionError(f"user {self.id}: timed out waiting for {what}; chat: {texts}")

    def send(self, text: str) -> None:
        self.emulator.send(self.id, text, first_name="Deploy")

    def start(self, timeout: float = 30.0) -> None:
        self.send("/start")
        self.wait(lambda ms: count_containing(ms, "free credits") >= 1, timeout, "the welcome")

    def prompt(self, spread: str = "three") -> None:
        """/reading, choose ``spread``: the bot now waits for the question."""
        before = len(self.messages())
        self.send("/reading")
        messages = self.wait(
            lambda ms: any("s:" + spread in buttons(m) for m in ms[before:]), what="the menu"
        )
        menu = next(m for m in reversed(messages) if "s:" + spread in buttons(m))
        self.emulator.tap(self.id, menu["message_id"], "s:" + spread)
        self.wait(
            lambda ms: any(
                m["message_id"] == menu["message_id"] and "Type your question" in body(m)
                for m in ms
            ),
            what="the question prompt",
        )

    def readings(self) -> int:
        return count_containing(self.messages(), READING_DONE)

    def read(self, question: str = "What should I know about this week?") -> None:
        done = self.readings()
        self.prompt()
        self.send(question)
        self.wait(lambda ms: count_containing(ms, READING_DONE) > done, 60, "the reading")


#: What people typed and their names: never in a process log.
PRIVATE = ("What should I know about this week?", "And after the restart?", "Deploy")


def assert_healthy(deploy: Deployment) -> None:
    exited = [(p.name, p.popen.returncode, p.log()[-1500:]) for p in deploy.exited_on_their_own()]
    assert not exited, f"processes exited on their own: {exited}"
    assert not deploy.tracebacks(), f"tracebacks in process logs: {list(deploy.tracebacks())}"
    for process in [*deploy.finished, *deploy.processes()]:
        log = process.log()
        leaked = [text for text in PRIVATE if text in log]
        assert not leaked, f"{process.name} logged {leaked}"
        assert "\r" not in log, f"{process.name} wrote carriage returns (a progress bar?)"


def assert_clean_stops(stopped) -> None:
    for process in stopped:
        assert process.stopped_in is not None, f"{process.name} outlived {STOP_DEADLINE} s"
        assert process.popen.returncode == 0, (process.name, process.log()[-1500:])


def webhook_env() -> dict[str, str]:
    port = free_port()
    return {
        "PORT": str(port),
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/deploy-suite",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def test_release_twice_is_idempotent(deployment):
    first = deployment.run_once("release")
    second = deployment.run_once("release")

    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout and "applied" not in second.stdout


def test_scheduler_first_then_workers_start_and_stay(deployment):
    """The first round's crash loop: a worker starting after the scheduler died of WRONGTYPE."""
    assert deployment.run_once("release").returncode == 0
    deployment.start("scheduler")
    time.sleep(4)  # rq-scheduler has stored its sorted set under rq:scheduler:
    burst = subprocess.run(
        ["/bin/bash", "-c", "python -m tarotbot worker --burst"],
        env=deployment.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert burst.returncode == 0, burst.stderr[-2000:]
    deployment.start("worker")
    time.sleep(3)
    assert_healthy(deployment)
    assert_clean_stops(deployment.stop_all())


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_every_process_in_any_order_restarted_with_sigterm(deployment, emulator, mode):
    receiver = "bot"
    if mode == "webhook":
        receiver = "web"
        assert "web" in deployment.commands, "the Procfile documents a web process"
        deployment.env.update(webhook_env())
    assert deployment.run_once("release").returncode == 0
    people = iter(Person(emulator, 6_100_000 + n) for n in range(100))

    def started(names) -> bool:
        return all(deployment.running.get(n) for n in names)

    # Round 1: scheduler, worker, receiver, a second worker; a reading after each start
    # that leaves a receiver and a worker running. The first worker serves metrics.
    first = None
    metrics_port = free_port()
    for name in ["scheduler", "worker", receiver, "worker"]:
        first_worker = name == "worker" and not deployment.running.get("worker")
        deployment.start(
            name, extra_env={"TAROTBOT_METRICS_PORT": str(metrics_port)} if first_worker else None
        )
        if started([receiver, "worker"]):
            person = next(people)
            person.start(timeout=60)
            person.read()
            first = first or person
    assert_healthy(deployment)
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    exposition = scraped.read().decode()
    assert "# TYPE tarotbot_job_duration_seconds histogram" in exposition
    assert 'tarotbot_jobs_total{queue="' in exposition  # the jobs this worker ran
    assert_clean_stops(deployment.stop_all(["worker", receiver, "scheduler"]))

    # Round 2, another order: the receiver alone first (a person writes while no
    # worker runs: answered once one starts), then a worker, then the scheduler.
    deployment.start(receiver)
    waiting = next(people)
    time.sleep(2)
    waiting.send("/start")
    deployment.start("worker")
    waiting.wait(lambda ms: count_containing(ms, "free credits") >= 1, 60, "the welcome")
    waiting.read()
    deployment.start("scheduler")
    first.read("And after the restart?")  # an earlier person: nothing was lost
    assert_healthy(deployment)
    assert_clean_stops(deployment.stop_all(["scheduler", receiver, "worker"]))

    for person in (first, waiting):  # each reading: its picture, then its text; no third message
        assert sum(1 for m in person.messages() if m.get("photo")) == person.readings()
    result = audit({**deployment.env, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_a_bot_stopped_mid_send_costs_seconds_and_sends_nothing_twice(
    deployment, emulator, signal_name
):
    """The bot dies (or is stopped) while answering a burst; it is started again.

    Every person gets their reading within seconds of the restart, once, and
    nothing twice (before: the dead bot's chat lock held for 60 s, and an
    acknowledgement in flight was sent again). The bot's part of a reading is
    now a chat action, slowed here so that the bot is mid-call when stopped.
    """
    assert deployment.run_once("release").returncode == 0
    deployment.start("worker")
    deployment.start("worker")
    deployment.start("scheduler")
    bot = deployment.start("bot")
    people = [Person(emulator, 6_200_000 + n) for n in range(8)]
    for person in people:
        person.start(timeout=60)
        person.prompt()
    emulator.set_delay("sendChatAction", 40)  # a slow Telegram: the bot is mid-call when stopped

    for person in people:
        person.send("Where is my path leading?")
    time.sleep(0.15)
    if signal_name == "SIGKILL":
        deployment.kill(bot)
    else:
        stopped = deployment.stop(bot)
        assert stopped.stopped_in is not None and stopped.stopped_in < 10
        assert stopped.popen.returncode == 0
    restarted = time.monotonic()
    deployment.start("bot")
    emulator.set_delay("sendChatAction", 0)

    for person in people:
        person.wait(lambda ms: count_containing(ms, READING_DONE) >= 1, 30, "the reading")
    took = time.monotonic() - restarted
    assert took < 12, f"the last reading came {took:.1f} s after the restart"
    for person in people:
        messages = person.messages()
        texts = [body(m) for m in messages if not m.get("photo")]
        assert len(texts) == len(set(texts)), f"{person.id} got a message twice"
        assert sum(1 for m in messages if m.get("photo")) == 1, person.id
        assert person.readings() == 1, person.id
    assert_healthy(deployment)
    assert_clean_stops(deployment.stop_all())
    result = audit({**deployment.env, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_bot_on_the_same_token_exits_with_one_line(deployment, emulator):
    assert deployment.run_once("release").returncode == 0
    deployment.start("worker")
    deployment.start("bot")
    person = Person(emulator, 6_300_001)
    person.start(timeout=60)

    second = deployment.start("bot")
    second.popen.wait(timeout=60)

    lines = [line for line in second.log().splitlines() if line.startswith("error:")]
    assert second.popen.returncode == 4, second.log()[-2000:]
    assert len(lines) == 1 and "another process is polling" in lines[0]
    deployment.finished.append(second)
    deployment.running["bot"].remove(second)
    person.read()  # the first bot still answers
    assert_healthy(deployment)
    assert_clean_stops(deployment.stop_all())


@pytest.mark.parametrize("name", ["release", "bot", "worker", "scheduler"])
def test_redis_without_database_url_refuses_in_one_line(deployment, name, tmp_path):
    deployment.env.pop("DATABASE_URL")
    deployment.env["TAROTBOT_SQLITE_PATH"] = str(tmp_path / "dyno-local.sqlite3")
    done = deployment.run_once(name, timeout=60)

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "SQLite" in lines[0]
    assert not (tmp_path / "dyno-local.sqlite3").exists(), "no SQLite file was written"


def _redis_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def test_scheduler_rides_out_a_redis_outage(deployment):
    """A five-second Redis outage (a restart that lost everything): the scheduler waits,
    reconnects and registers its periodic jobs again, instead of exiting."""

    periodic = len(PERIODIC_JOBS)  # no backup entries: no BACKUP_AGE_RECIPIENTS here
    assert deployment.run_once("release").returncode == 0
    port = free_port()
    server = _redis_server(port)
    deployment.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    try:
        scheduler = deployment.start("scheduler")
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not client.zcard("rq:scheduler:scheduled_jobs"):
            time.sleep(0.1)
        assert client.zcard("rq:scheduler:scheduled_jobs") == periodic

        server.kill()
        server.wait(timeout=10)
        time.sleep(5)
        assert scheduler.popen.poll() is None, scheduler.log()[-2000:]
        server = _redis_server(port)
        deadline = time.monotonic() + 40
        while (
            time.monotonic() < deadline and client.zcard("rq:scheduler:scheduled_jobs") < periodic
        ):
            time.sleep(0.2)

        assert client.zcard("rq:scheduler:scheduled_jobs") == periodic, scheduler.log()[-2000:]
        assert scheduler.popen.poll() is None
        assert "scheduler lost Redis" in scheduler.log()
        assert_clean_stops(deployment.stop_all())
        assert "Traceback" not in scheduler.log()
    finally:
        server.kill()
        server.wait(timeout=10)


def test_the_procfile_runs_the_documented_commands():
    from procfile import read_procfile

    active, commented = read_procfile()
    assert set(active) == {"release", "bot", "worker", "scheduler"}
    assert active["scheduler"] == "TZ=UTC python -m tarotbot scheduler"
    assert commented.get("web") == "python -m tarotbot web"  # the documented switch


@pytest.mark.parametrize(
    ("name", "variable", "value"),
    [
        ("scheduler", "TAROTBOT_SCHEDULER_INTERVAL", "-3"),
        ("worker", "TAROTBOT_WORKER_STOP_GRACE", "soon"),
        ("worker", "REDIS_URL", "redis://:hunter2@127.0.0.1:notaport/0"),
        ("bot", "REDIS_URL", "http://:hunter2@127.0.0.1/0"),
        ("bot", "TELEGRAM_BOT_TOKEN", "not-a-token"),
    ],
)
def test_a_malformed_config_var_stops_a_process_with_one_line(deployment, name, variable, value):
    deployment.env[variable] = value
    done = deployment.run_once(name, timeout=60)

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and variable in lines[0], lines
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_a_worker_stopped_mid_job_hands_it_back_within_the_grace(
    deployment, emulator, worker_class
):
    """SIGTERM while a reading is under way and outlasts the grace period: the job goes
    back to its queue, the worker exits in time, and the next worker delivers the
    reading once, charged once."""
    from slow_llm import SlowLLM

    llm = SlowLLM(hold=40)
    deployment.env.update(
        TAROT_LLM_URL=llm.url,
        TAROT_LLM_TIMEOUT="60",
        TAROTBOT_WORKER_STOP_GRACE="3",
        TAROTBOT_WORKER_CLASS=worker_class,
    )
    try:
        assert deployment.run_once("release").returncode == 0
        deployment.start("scheduler")
        deployment.start("bot")
        worker = deployment.start("worker")
        person = Person(emulator, 6_400_001)
        person.start(timeout=60)
        person.prompt()
        person.send("What should I focus on?")
        assert llm.first_call.wait(30), "the reading never reached the interpreter"

        stopped = deployment.stop(worker)

        assert stopped.stopped_in is not None and stopped.stopped_in < 10
        assert stopped.popen.returncode == 0
        assert "outlasted the stop; handed back" in stopped.log()
        deployment.start("worker")
        person.wait(lambda ms: count_containing(ms, READING_DONE) >= 1, 60, "the reading")
        time.sleep(1.5)  # anything sent twice would arrive now
        messages = person.messages()
        assert count_containing(messages, READING_DONE) == 1
        assert count_containing(messages, "2 credits used · 3 left") == 1
        assert sum(1 for m in messages if m.get("photo")) == 1
        assert_healthy(deployment)
        assert_clean_stops(deployment.stop_all())
        result = audit({**deployment.env, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        llm.close()
