"""Benchmark of webhook notifications: latency from a version being stored to the receiver
having the message, and deliveries per second to a fast local receiver, in the embedded mode
and the Celery deployment, on PostgreSQL.

Run ``.venv/bin/python benchmarks/bench_webhooks.py`` (options: ``--articles`` (50, latency),
``--backlog-articles`` (200, × 10 endpoints = 2,000 deliveries), ``--repeat`` (3),
``--workers 1,2,4``, ``--ticks 0.5,2``, ``--skip-run-drain``, ``--profile DIR``,
``--no-profile``, ``--no-docs``, ``--postgres-url``, ``--redis-url``). ``--quick`` is a smoke
run of under a minute (10 latency articles, a backlog of 200 deliveries, 2 worker processes,
one repeat, no ``tracker run`` drain, no 2 s tick, no profile). It prints markdown tables and
writes them, with the command line and machine info, to its section of docs/benchmarks.md.

The receiver is this script in its own process (``--child receiver``): a
``ThreadingHTTPServer`` on 127.0.0.1 (HTTP/1.1 keep-alive, Nagle off) that reads the body,
records ``time.time()`` for the first arrival of each message (endpoint path and
``webhook-id``: one event goes to several endpoints under the same id), verifies the signature of
every message with ``standardwebhooks`` (HMAC only: ``json_parse=False``; about 30 µs) and
answers 204 (401 to a bad signature, which the tables would show). Articles come from
``tests/articleserver.py`` in its own process (harness.Site). Databases are clones of two
template PostgreSQL databases (``bench_webhooks_<random>_…``, dropped at the end); the broker is
``redis://127.0.0.1:6379/13``, flushed before and after each configuration. Every tracker
process runs with ``TRACKER_ALLOW_NETWORKS=127.0.0.0/8`` and ``TRACKER_PER_HOST_CONCURRENCY=8``,
other settings default.

Latency at light load. The template tracks ``--articles`` articles, each checked once at
version 1 of the fixture story (an ``article.first_seen`` event each, not yet dispatched), and
one endpoint subscribed to every event. Each run starts the deployment on a clone: the
first-sight messages are delivered first (the warm-up), then the site serves version 2 of
every article (v1 → v2 is the fixture's large rewrite, so each message carries a real diff)
and the articles fall due one every 0.5 s (``next_check_at`` written ahead of time, so even the
embedded runner wakes on time). Each check stores a version and an ``article.changed`` event;
latency = arrival at the receiver − ``events.created_at`` (set in the check's transaction,
just before its commit; ``versions.fetched_at`` is the same instant). "due → received" adds
the scheduling delay. Embedded: ``tracker run --concurrency 2`` (its delivery thread is woken
by the check). Celery: ``celery -A workers worker -Q fetch,deliver,housekeeping -c 2
--without-gossip --without-mingle`` + ``celery -A workers beat`` with
``TRACKER_TICK_SECONDS=0.5``: the check task sends ``tracker.dispatch`` at once, which creates
the delivery and sends ``tracker.deliver``.

Deliveries per second. The second template has ``--backlog-articles`` (+ 8 warm-up) articles
each with an ``article.changed`` event (v1 → v2) and 10 endpoints subscribed to
``article.changed`` on the receiver (``/hook/0`` … ``/hook/9``), dispatched: one pending
delivery per event and endpoint. The backlog's deliveries are parked (``next_attempt_at`` in
2100); the warm-up's 80 are due. Each configuration on a fresh clone delivers the warm-up
first, untimed; then at t0 the backlog is made due with one ``UPDATE`` (or claimed and sent)
and the rate is backlog / (last arrival − t0):

- embedded ``deliver_due``: this script as a child process (``--child deliver``) calling
  ``tracker.delivery.deliver_due(app, limit=100)`` until it returns nothing: sequential
  attempts in one thread, as the embedded courier does them, without its pauses;
- ``tracker run``: the real courier thread, which runs ``deliver_due`` again when woken by a
  check, or otherwise after 1 s;
- Celery, sent directly: K worker processes on ``-Q deliver``; the script claims the whole
  backlog (``tracker.delivery.claim_due``) and sends one ``tracker.deliver_batch`` task per 16
  claims (``send_task``, as ``workers.tasks._send`` batches them): the workers' capacity;
- Celery with the beat: K = max ``--workers`` processes on ``-Q deliver,housekeeping`` and a
  beat ticking every 0.5 s and every 2 s (the default); the tick claims and sends the due
  deliveries (``tracker.tick``), as a backlog after an outage would drain.

CPU ms/delivery is user+system CPU of the tracker processes over the timed part. The payload
of an ``article.changed`` message is built (diff of the two stored versions) once per event and
process (``App.caches.payloads``, ``tracker.caches``), so 10 endpoints share it in one process.

Targets: p95 < 1 s at light load; "several hundred deliveries per second", read here as at
least 300/s. When the embedded rate misses it (or with ``--profile DIR``), the embedded child
runs once more under cProfile (wall-clock timer: waiting on PostgreSQL and the receiver
counts) and the hotspots are reported; that run's rate is not in the tables.

Caveats: 2 shared cores run the receiver, the article server, PostgreSQL, Redis and the
processes under test; the figures are medians over the repeats, and the configurations run in
a seeded random order that changes with each repeat.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench_service import (
    PARKED,
    POSTGRES_URL,
    Broker,
    Child,
    Databases,
    Deployment,
    opened,
    percentile,
    phase_rows,
    service_env,
    utcnow,
    wait_until,
)
from harness import (
    ROOT,
    Site,
    bullet_list,
    command_line,
    machine_info,
    median,
    package_versions,
    run_measured,
    table,
    write_section,
)

from db.models import uid_text

REDIS_URL = "redis://127.0.0.1:6379/13"
ENDPOINTS = 10
LATENCY_PATH = "/hook/latency"
WARMUP_ARTICLES = 8
PACE = 0.5  # seconds between two articles falling due in the latency runs
TARGET_P95 = 1.0
TARGET_RATE = 300.0
LATENCY_WORKERS = 2
SEED = 20240619
DELIVERY_TASK_BATCH = 16  # = workers.tasks.DELIVERY_TASK_BATCH (not imported: no Celery here)
# Where embedded delivery spends its time (label, file suffix, function).
PHASES = (
    ("deliver_due (the whole drain)", "tracker/delivery.py", "deliver_due"),
    ("dispatch_events", "tracker/delivery.py", "dispatch_events"),
    ("claim_due (claim a batch, and each next in chain)", "tracker/delivery.py", "claim_due"),
    ("deliver_batch (one attempt at each of a batch)", "tracker/delivery.py", "deliver_batch"),
    ("  _prepare (read deliveries, events, endpoints; payloads; secrets)", "tracker/delivery.py",
     "_prepare"),
    ("    _payload (diff + JSON, cached per event)", "tracker/delivery.py", "_payload"),
    ("    signing_secrets (unseal)", "tracker/subscriptions.py", "signing_secrets"),
    ("  _post_all (sign + HTTP POSTs, webhook_concurrency at a time)", "tracker/delivery.py",
     "_post_all"),
    ("  _record (lock rows, attempt rows, states, commit)", "tracker/delivery.py", "_record"),
    ("    lock_deliveries", "db/webhook_queries.py", "lock_deliveries"),
    ("    lock_endpoints", "db/webhook_queries.py", "lock_endpoints"),
    ("    next_in_chains", "db/webhook_queries.py", "next_in_chains"),
    ("session_scope (incl. commits)", "db/session.py", "session_scope"),
    ("Session.commit", "sqlalchemy/orm/session.py", "commit"),
)  # fmt: skip


# --- the receiver (its own process) ----------------------------------------------------------


def serve_receiver(port_file: Path) -> None:
    """Answer 204 to every verified POST at once, recording the first arrival of each
    message, keyed "<path> <webhook-id>".
    Control: POST /_control/secrets (JSON {path: secret}), POST /_control/reset,
    GET /_control/arrivals. Runs until SIGTERM."""
    from standardwebhooks import Webhook

    lock = threading.Lock()
    hooks: dict[str, Webhook] = {}
    arrivals: dict[str, float] = {}
    counts: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with lock:
                answer = {"arrivals": dict(arrivals), "counts": dict(counts)}
            self._json(answer)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            if self.path.startswith("/_control/"):
                self._control(self.path.removeprefix("/_control/"), body)
                return
            hook = hooks.get(self.path)
            key = f"{self.path} {self.headers.get('webhook-id', '')}"
            try:
                verified = hook is not None and hook.verify(body, dict(self.headers),
                                                            json_parse=False) is None
            except Exception:
                verified = False
            with lock:
                counts["requests"] += 1
                if not verified:
                    counts["bad signature"] += 1
                elif key in arrivals:
                    counts["duplicates"] += 1
                else:
                    arrivals[key] = arrived
            self.send_response(204 if verified else 401)
            if not verified:
                self.send_header("Content-Length", "0")
            self.end_headers()

        def _control(self, action: str, body: bytes) -> None:
            with lock:
                if action == "secrets":
                    hooks.update({p: Webhook(s) for p, s in json.loads(body).items()})
                elif action == "reset":
                    arrivals.clear()
                    counts.clear()
            self._json({"ok": True})

        def _json(self, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]), encoding="utf-8")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.1)


class Receiver:
    """The receiver process, seen from the benchmark."""

    def __init__(self, home: Path) -> None:
        port_file = home / "receiver.port"
        command = [sys.executable, __file__, "--child", "receiver", str(port_file)]
        self.child = Child("receiver", command, {**os.environ, "NO_PROXY": "127.0.0.1"}, home)
        wait_until(lambda: port_file.exists() and port_file.read_text() != "", 30,
                   "the receiver to listen", [self.child])  # fmt: skip
        self.base_url = f"http://127.0.0.1:{port_file.read_text()}"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, path: str) -> str:
        return self.base_url + path

    def _call(self, action: str, data: Any = None) -> Any:
        body = None if data is None else json.dumps(data).encode()
        method = "GET" if action == "arrivals" else "POST"
        request = urllib.request.Request(self.url(f"/_control/{action}"), data=body or b"",
                                         method=method)  # fmt: skip
        with self._opener.open(request, timeout=30) as response:
            return json.load(response)

    def set_secrets(self, secrets: dict[str, str]) -> None:
        self._call("secrets", secrets)

    def reset(self) -> None:
        self._call("reset")

    def arrivals(self) -> tuple[dict[str, float], dict[str, int]]:
        answer = self._call("arrivals")
        return answer["arrivals"], answer["counts"]

    def count(self) -> int:
        return len(self.arrivals()[0])

    def stop(self) -> None:
        self.child.stop()


# --- the embedded drain (a child process) ----------------------------------------------------


def child_deliver(profile: Path | None) -> None:
    """Deliver what is due (the warm-up), make the whole backlog due, then drain it with
    ``deliver_due`` until nothing is left; print timings as JSON."""
    from sqlalchemy import text

    from tracker.app import App
    from tracker.delivery import deliver_due

    def drain() -> list[Any]:
        results: list[Any] = []
        for _ in range(100_000):  # bounded: a backlog of at most 10 million
            batch = deliver_due(app, limit=100)
            if not batch:
                break
            results += batch
        return results

    app = App()
    warm = len(drain())
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.time(), time.process_time()
    if profiler:
        profiler.enable()
    with app.engine.begin() as connection:
        connection.execute(text("UPDATE deliveries SET next_attempt_at = now() "
                                "WHERE state = 'pending'"))  # fmt: skip
    outcomes = Counter(result.outcome for result in drain())
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    print(json.dumps({"started": started, "finished": time.time(), "warm": warm,
                      "cpu": time.process_time() - cpu, "outcomes": outcomes}))  # fmt: skip
    app.close()


# --- templates ---------------------------------------------------------------------------------


def make_app(url: str) -> Any:
    from tracker.app import App
    from tracker.config import load_settings

    return App(load_settings(database_url=url, allow_networks="127.0.0.0/8", allowed_ports="*",
                             per_host_concurrency=8, per_host_rate=0))  # fmt: skip


def track(app: Any, site: Site, slugs: Sequence[str], version: int) -> list[int]:
    """Serve ``version`` of each article, track them, and check them once (first sight)."""
    from tracker.articles import add_articles
    from tracker.passes import check_many

    for slug in slugs:
        site.control("version", slug=slug, version=version)
    add_articles(app, [site.url(slug) for slug in slugs], interval=86_400)
    with opened(app.settings.database_url) as store:
        by_slug = store.article_ids()
    ids = [by_slug[slug] for slug in slugs]
    results = check_many(app, ids, concurrency=8)
    assert {r.outcome for r in results} == {"first_seen"}, Counter(r.outcome for r in results)
    return ids


def check_again(app: Any, site: Site, slugs: Sequence[str], ids: list[int], version: int) -> None:
    from tracker.passes import check_many

    for slug in slugs:
        site.control("version", slug=slug, version=version)
    results = check_many(app, ids, concurrency=8)
    assert {r.outcome for r in results} == {"changed"}, Counter(r.outcome for r in results)


def dispatch_all(app: Any) -> None:
    from tracker.delivery import dispatch_events

    with opened(app.settings.database_url) as store:
        for _ in range(10_000):
            if not store.scalar("SELECT count(*) FROM events WHERE dispatched_at IS NULL"):
                return
            dispatch_events(app)
    raise RuntimeError("events left undispatched")


def close_app(app: Any) -> None:
    app.close()
    app.engine.dispose()  # a template database must have no connections left


@dataclass(frozen=True, slots=True)
class Template:
    url: str
    ids: list[int]  # articles
    warmup: list[int] = field(default_factory=list)  # articles whose deliveries are due
    deliveries: int = 0  # parked backlog


def latency_template(dbs: Databases, site: Site, slugs: Sequence[str], receiver: Receiver
                     ) -> tuple[Template, dict[str, str]]:  # fmt: skip
    from tracker.subscriptions import subscribe

    url = dbs.create()
    app = make_app(url)
    secret = subscribe(app, receiver.url(LATENCY_PATH)).secret
    ids = track(app, site, slugs, 1)
    with opened(url) as store:
        store.db.execute("UPDATE articles SET next_check_at = %s", (PARKED,))
    close_app(app)
    for slug in slugs:
        site.control("version", slug=slug, version=2)
    return Template(url, ids), {LATENCY_PATH: secret}


def backlog_template(
    dbs: Databases, site: Site, warm: Sequence[str], slugs: Sequence[str], receiver: Receiver
) -> tuple[Template, dict[str, str]]:
    from tracker.subscriptions import subscribe

    url = dbs.create()
    app = make_app(url)
    everything = [*warm, *slugs]
    ids = track(app, site, everything, 1)
    secrets = {}
    for n in range(ENDPOINTS):
        path = f"/hook/{n}"
        secrets[path] = subscribe(app, receiver.url(path), events=["article.changed"]).secret
    dispatch_all(app)  # the first sightings: nobody subscribed to them
    check_again(app, site, everything, ids, 2)
    dispatch_all(app)
    backlog, warm_ids = ids[len(warm) :], ids[: len(warm)]
    with opened(url) as store:
        store.db.execute("UPDATE articles SET next_check_at = %s", (PARKED,))
        store.db.execute("UPDATE deliveries SET next_attempt_at = %s WHERE article_id = ANY(%s)",
                         (PARKED, backlog))  # fmt: skip
        parked = int(store.scalar("SELECT count(*) FROM deliveries WHERE next_attempt_at = %s",
                                  PARKED))  # fmt: skip
    assert parked == len(backlog) * ENDPOINTS, parked
    close_app(app)
    return Template(url, backlog, warm_ids, parked), secrets


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Results:
    # mode → per-repeat (p50, p95, max) of stored → received, and of due → received
    latency: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    end_to_end: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    # (mode, K) → per-repeat deliveries/s and CPU ms per delivery
    rate: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    cpu_ms: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, table_: dict[Any, list[Any]], key: Any, value: Any) -> None:
        table_.setdefault(key, []).append(value)


class Bench:
    def __init__(self, args: argparse.Namespace, site: Site, dbs: Databases, broker: Broker,
                 receiver: Receiver, home: Path) -> None:  # fmt: skip
        self.args, self.site, self.dbs, self.broker = args, site, dbs, broker
        self.receiver, self.home = receiver, home
        self.logs = home / "logs"
        self.logs.mkdir()
        slugs = list(site.slugs)
        n, w = args.articles, WARMUP_ARTICLES
        self.latency, secrets = latency_template(dbs, site, slugs[:n], receiver)
        self.backlog, more = backlog_template(dbs, site, slugs[n : n + w], slugs[n + w :],
                                              receiver)  # fmt: skip
        receiver.set_secrets(secrets | more)

    def env(self, url: str) -> dict[str, str]:
        return service_env(self.home, url, self.broker.url)

    def _fresh(self, template: Template) -> str:
        self.broker.flush()
        self.receiver.reset()
        return self.dbs.create(template.url)

    def _done(self, url: str) -> None:
        self.dbs.drop(url)
        self.broker.flush()

    # --- latency -------------------------------------------------------------------------------

    def measure_latency(self, results: Results, label: str, make: Any) -> None:
        ids = self.latency.ids
        url = self._fresh(self.latency)
        try:
            with opened(url) as store, make(self.env(url)) as deployment:
                wait_until(lambda: self.receiver.count() >= len(ids), 120,
                           "the first-sight messages (warm-up)", deployment.children)  # fmt: skip
                start = utcnow() + dt.timedelta(seconds=deployment.lead)
                due = {i: start + dt.timedelta(seconds=PACE * n) for n, i in enumerate(ids)}
                store.schedule(due)
                wait_until(lambda: self.receiver.count() >= 2 * len(ids),
                           deployment.lead + PACE * len(ids) + 120,
                           "the change messages", deployment.children)  # fmt: skip
                events = store.db.execute(
                    "SELECT uid, article_id, created_at FROM events "
                    "WHERE type = 'article.changed'").fetchall()  # fmt: skip
        finally:
            self._done(url)
        arrivals, counts = self.receiver.arrivals()
        note(results, label, counts)
        events = [(uid_text(bytes(uid)), article, created) for uid, article, created in events]
        arrived = {uid: arrivals[f"{LATENCY_PATH} {uid}"] for uid, _, _ in events}
        stored = [arrived[uid] - created.timestamp() for uid, _, created in events]
        overall = [arrived[uid] - due[article].timestamp() for uid, article, _ in events]
        results.add(results.latency, label, summary(stored))
        results.add(results.end_to_end, label, summary(overall))
        p50, p95, worst = summary(stored)
        print(f"  {label}: stored → received p50 {p50:.3f} s, p95 {p95:.3f} s, max {worst:.3f} s",
              file=sys.stderr)  # fmt: skip

    # --- throughput ----------------------------------------------------------------------------

    def _timed_drain(
        self, results: Results, key: tuple[str, int], deployment: Deployment, start: Any
    ) -> None:
        """Warm up on the due deliveries, call ``start()`` (which makes the backlog due or
        sends it), wait for every message; rate from t0 to the last arrival."""
        warm = len(self.backlog.warmup) * ENDPOINTS
        wait_until(lambda: self.receiver.count() >= warm, 120, "the warm-up deliveries",
                   deployment.children)  # fmt: skip
        time.sleep(0.3)
        cpu, t0 = deployment.cpu(), time.time()
        start()
        total = warm + self.backlog.deliveries
        wait_until(lambda: self.receiver.count() >= total, max(180.0, total / 10),
                   "the backlog to arrive", deployment.children)  # fmt: skip
        cpu = deployment.cpu() - cpu
        self._record_rate(results, key, t0, cpu, deployment.label)

    def _record_rate(
        self, results: Results, key: tuple[str, int], t0: float, cpu: float, label: str
    ) -> None:
        arrivals, counts = self.receiver.arrivals()
        note(results, label, counts)
        timed = [moment for moment in arrivals.values() if moment >= t0]
        if len(timed) != self.backlog.deliveries:
            results.problems.append(f"{label}: {len(timed)} of {self.backlog.deliveries} "
                                    "backlog messages arrived after t0")  # fmt: skip
        rate = len(timed) / (max(timed) - t0)
        results.add(results.rate, key, rate)
        results.add(results.cpu_ms, key, 1000 * cpu / len(timed))
        print(f"  {label}: {rate:.0f} deliveries/s, {1000 * cpu / len(timed):.1f} ms CPU each",
              file=sys.stderr)  # fmt: skip

    def embedded_drain(self, results: Results, profile: Path | None = None) -> None:
        url = self._fresh(self.backlog)
        command = [sys.executable, __file__, "--child", "deliver"]
        if profile:
            command.append(str(profile))
        try:
            usage = run_measured(command, env=self.env(url), timeout=600)
        finally:
            self._done(url)
        if profile:
            return
        report_ = json.loads(usage.stdout)
        arrivals, counts = self.receiver.arrivals()
        note(results, "deliver_due", counts)
        timed = [m for m in arrivals.values() if m >= report_["started"]]
        rate = len(timed) / (max(timed) - report_["started"])
        results.add(results.rate, ("deliver_due", 1), rate)
        results.add(results.cpu_ms, ("deliver_due", 1), 1000 * report_["cpu"] / len(timed))
        print(f"  deliver_due: {rate:.0f} deliveries/s ({report_['outcomes']})", file=sys.stderr)

    def run_drain(self, results: Results) -> None:
        url = self._fresh(self.backlog)
        try:
            with opened(url) as store, Deployment.embedded(
                self.env(url), self.logs, concurrency=LATENCY_WORKERS
            ) as deployment:
                self._timed_drain(results, ("run", 1), deployment,
                                  lambda: unpark(store))  # fmt: skip
        finally:
            self._done(url)

    def celery_direct(self, results: Results, workers: int) -> None:
        from celery import Celery

        from tracker.delivery import claim_due

        url = self._fresh(self.backlog)
        client = Celery(broker=self.broker.url)
        app = make_app(url)

        def send_due() -> None:
            claims = [[c.delivery_id, c.token] for c in claim_due(app, limit=100_000)]
            for start in range(0, len(claims), DELIVERY_TASK_BATCH):  # as workers.tasks._send
                client.send_task("tracker.deliver_batch",
                                 args=[claims[start : start + DELIVERY_TASK_BATCH]],
                                 queue="deliver")  # fmt: skip

        def start() -> None:
            with opened(url) as store:
                unpark(store)
            send_due()

        try:
            with Deployment.celery(self.env(url), self.logs, workers=workers, tick=None,
                                   queues=("deliver",)) as deployment:  # fmt: skip
                send_due()  # the warm-up
                self._timed_drain(results, ("direct", workers), deployment, start)
        finally:
            client.close()
            close_app(app)
            self._done(url)

    def celery_beat(self, results: Results, workers: int, tick: float) -> None:
        url = self._fresh(self.backlog)
        try:
            with opened(url) as store, Deployment.celery(
                self.env(url), self.logs, workers=workers, tick=tick,
                queues=("deliver", "housekeeping"),
            ) as deployment:  # fmt: skip
                self._timed_drain(results, (f"beat {tick:g}", workers), deployment,
                                  lambda: unpark(store))  # fmt: skip
        finally:
            self._done(url)

    # --- one repeat ----------------------------------------------------------------------------

    def repeat(self, results: Results, repeat: int) -> None:
        logs = self.logs
        print(f"repeat {repeat + 1}", file=sys.stderr)
        steps = [
            lambda: self.measure_latency(
                results, f"tracker run --concurrency {LATENCY_WORKERS}",
                lambda env: Deployment.embedded(
                    env, logs, concurrency=LATENCY_WORKERS)),
            lambda: self.measure_latency(
                results, f"Celery -c {LATENCY_WORKERS}, tick 0.5 s",
                lambda env: Deployment.celery(
                    env, logs, workers=LATENCY_WORKERS, tick=0.5)),
            lambda: self.embedded_drain(results),
        ]  # fmt: skip
        if not self.args.skip_run_drain:
            steps.append(lambda: self.run_drain(results))
        steps += [lambda k=k: self.celery_direct(results, k) for k in self.args.workers]
        steps += [lambda t=t: self.celery_beat(results, max(self.args.workers), t)
                  for t in self.args.ticks]  # fmt: skip
        random.Random(SEED + repeat).shuffle(steps)  # spread slow drifts of the machine
        for step in steps:
            step()


def note(results: Results, label: str, counts: dict[str, int]) -> None:
    """Keep what the receiver saw that should not happen: bad signatures, duplicates."""
    for name in ("bad signature", "duplicates"):
        if counts.get(name):
            results.problems.append(f"{label}: {counts[name]} {name}")


def unpark(store: Any) -> None:
    store.db.execute("UPDATE deliveries SET next_attempt_at = now() WHERE state = 'pending'")


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    return percentile(values, 0.5), percentile(values, 0.95), max(values)


# --- profile -----------------------------------------------------------------------------------


def profile_report(path: Path, deliveries: int, kept: bool) -> str:
    from profiled import by_library, hotspots

    where = f"The .prof file: `{path}`." if kept else "(`--profile DIR` keeps the .prof file.)"
    return "\n\n".join([
        f"### Profile of the embedded drain (`deliver_due`, {deliveries:,} deliveries)",
        "cProfile with its default wall-clock timer around the drain in the child process, so "
        "time spent waiting on PostgreSQL and on the receiver counts (it shows under the "
        "socket and psycopg wait functions). The profiler inflates Python-heavy code "
        f"(SQLAlchemy). {where}",
        "Phases (cumulative, overlapping):",
        table(("phase", "share", "ms/delivery"), phase_rows(path, PHASES, deliveries)),
        "Self time by library:",
        table(("where", "self"), by_library(path)),
        "Top functions by cumulative time:",
        table(("function", "cumulative", "self", "calls"), hotspots(path, limit=15)),
        "Top functions by self time:",
        table(("function", "cumulative", "self", "calls"), hotspots(path, by="self", limit=15)),
    ])  # fmt: skip


# --- report ------------------------------------------------------------------------------------


LATENCY_HEADERS = ("mode", "runs", "p50", "p95", "max", "due → received p50", "p95")
RATE_MODES = {
    "deliver_due": "embedded: `deliver_due` loop, one process",
    "run": "embedded: `tracker run` delivery thread",
    "direct": "Celery -c {k} on `deliver`, tasks sent directly",
    "beat": "Celery -c {k} + beat, tick {tick} s",
}


def rate_label(mode: str, k: int) -> str:
    kind, _, tick = mode.partition(" ")
    default = " (the default)" if tick == "2" else ""
    return RATE_MODES[kind].format(k=k, tick=tick) + default


def rate_order(key: tuple[str, int]) -> tuple[int, int, float]:
    kind, _, tick = key[0].partition(" ")
    return list(RATE_MODES).index(kind), key[1], float(tick or 0)


def report(results: Results, args: argparse.Namespace, started: str, profile: str | None,
           versions: dict[str, str]) -> str:  # fmt: skip
    repeats = f"median of {args.repeat} repeat{'s' if args.repeat > 1 else ''}"
    latency_rows = []
    for label, values in results.latency.items():
        e2e = results.end_to_end[label]
        latency_rows.append((label, len(values), *(f"{median(v[i] for v in values):.3f}"
                                                   for i in range(3)),
                             f"{median(v[0] for v in e2e):.3f}",
                             f"{median(v[1] for v in e2e):.3f}"))  # fmt: skip
    rate_rows = []
    for (mode, k), values in sorted(results.rate.items(), key=lambda item: rate_order(item[0])):
        rate_rows.append((rate_label(mode, k), k, f"{median(values):.0f}",
                          f"{min(values):.0f}–{max(values):.0f}",
                          f"{median(results.cpu_ms[mode, k]):.2f}"))  # fmt: skip
    parts = [
        "## Webhook notifications: latency and deliveries per second (PostgreSQL)",
        f"Command: `{command_line()}` ({started}). Script: `benchmarks/bench_webhooks.py` (its "
        "docstring has the method). A fast receiver in its own process answers 204 and "
        "verifies every signature; `TRACKER_PER_HOST_CONCURRENCY=8`, other settings default. "
        "Celery: `celery -A workers worker -Q … -c K --without-gossip --without-mingle`, and "
        "`celery -A workers beat` where a beat is named.",
        f"### Latency at light load ({repeats}; seconds)",
        f"{args.articles} articles changing one every {PACE:g} s (v1 → v2 of the fixture); "
        "stored → received = arrival at the receiver − `events.created_at` (the version's "
        "transaction); due → received adds the scheduling. `tracker run --concurrency "
        f"{LATENCY_WORKERS}`; Celery -c {LATENCY_WORKERS} with the beat ticking every 0.5 s.",
        table(LATENCY_HEADERS, latency_rows),
        f"### Deliveries per second ({repeats})",
        f"A backlog of {args.backlog_articles} `article.changed` events × {ENDPOINTS} "
        f"endpoints = {args.backlog_articles * ENDPOINTS:,} deliveries, after a warm-up of "
        f"{WARMUP_ARTICLES * ENDPOINTS}; rate = backlog / (last arrival − the instant it was "
        "made due or sent); range: the slowest and fastest repeat. CPU: user+system of the "
        "tracker processes.",
        table(("mode", "K", "deliveries/s", "range", "CPU ms/delivery"), rate_rows),
        "\n".join(f"- {line}" for line in findings(results)),
        "### Targets",
        table(("target", "measured", "verdict"), target_rows(results)),
    ]
    if results.problems:
        parts += ["Problems seen:", "\n".join(f"- {p}" for p in results.problems)]
    if profile:
        parts.append(profile)
    parts += ["Machine and versions:", bullet_list(machine_info() | versions)]
    return "\n\n".join(parts) + "\n"


def findings(results: Results) -> list[str]:
    """What the rates say, each against the embedded loop or direct sending."""
    rate = {key: median(values) for key, values in results.rate.items()}
    cpu = {key: median(values) for key, values in results.cpu_ms.items()}
    loop = rate.get(("deliver_due", 1))
    lines = []
    if loop:
        lines.append(
            f"One process delivering (batches of 32 read and recorded in one transaction each, "
            f"8 POSTs in flight) spends {cpu['deliver_due', 1]:.1f} ms CPU per delivery, so it "
            f"cannot pass about {1000 / cpu['deliver_due', 1]:.0f}/s however fast the receiver "
            f"is; it reached {loop:.0f}/s.")
    if loop and ("run", 1) in rate:
        lines.append(
            f"`tracker run`'s delivery thread reached {rate['run', 1] / loop:.2f} × the plain "
            "loop: the difference is its rounds and the pauses between them (`_deliver_until` "
            "in `tracker/runner.py`).")
    direct = {k: r for (mode, k), r in rate.items() if mode == "direct"}
    if direct:
        best = max(direct, key=direct.__getitem__)
        lines.append(
            f"Sent directly, the workers reach {direct[best]:.0f}/s at best (K = {best}, "
            f"{cpu['direct', best]:.1f} ms CPU per delivery in the worker processes; each "
            "process builds each event's payload once).")
    for mode, k in sorted(key for key in rate if key[0].startswith("beat ")):
        tick = mode.split()[1]
        versus = (f", {rate[mode, k] / direct[k]:.2f} × direct sending at the same K"
                  if k in direct else "")  # fmt: skip
        lines.append(
            f"Through the beat with a {tick} s tick: {rate[mode, k]:.0f}/s{versus}; each tick "
            "claims a limited number of due deliveries (`tracker.tick` in `workers/tasks.py`), "
            "so the tick period bounds how fast a backlog drains.")
    return lines


def target_rows(results: Results) -> list[tuple[str, str, str]]:
    rows = []
    for label, values in results.latency.items():
        p95 = median(v[1] for v in values)
        rows.append((f"{label}: p95 stored → received < {TARGET_P95:g} s at light load",
                     f"{p95:.3f} s", "met" if p95 < TARGET_P95 else "**not met**"))  # fmt: skip
    for (mode, k), values in sorted(results.rate.items(), key=lambda item: rate_order(item[0])):
        rate = median(values)
        rows.append((f"{rate_label(mode, k)}: ≥ {TARGET_RATE:.0f} deliveries/s",
                     f"{rate:.0f}/s", "met" if rate >= TARGET_RATE else "**not met**"))  # fmt: skip
    return rows


def server_versions(postgres_url: str, broker: Broker) -> dict[str, str]:
    from bench_service import server_versions as versions

    return versions(postgres_url, broker) | package_versions(["standardwebhooks"])


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=50, help="for the latency runs")
    parser.add_argument("--backlog-articles", type=int, default=200,
                        help=f"× {ENDPOINTS} endpoints = the backlog")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated K values")
    parser.add_argument("--ticks", default="0.5,2", help="beat ticks for the backlog drain")
    parser.add_argument("--skip-run-drain", action="store_true")
    parser.add_argument("--profile", type=Path, help="always profile; keep the .prof here")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run, under 1 min")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL, help="flushed before and after")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.backlog_articles, args.repeat = 10, 20, 1
        args.workers, args.ticks, args.no_profile, args.skip_run_drain = "2", "0.5", True, True
    args.workers = [int(k) for k in str(args.workers).split(",") if k.strip()]
    args.ticks = [float(t) for t in str(args.ticks).split(",") if t.strip()]
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--child", "receiver"]:
        serve_receiver(Path(argv[2]))
        return
    if argv[:2] == ["--child", "deliver"]:
        child_deliver(Path(argv[2]) if len(argv) > 2 else None)
        return
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups below
    # This process builds the templates with tracker itself: none of the user's settings.
    for name in [n for n in os.environ if n.startswith("TRACKER_")]:
        del os.environ[name]
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    results = Results()
    profile_text = None
    with tempfile.TemporaryDirectory(prefix="bench_webhooks-") as workdir:
        home = Path(workdir)
        os.environ |= {"XDG_CONFIG_HOME": str(home / "config"), "NO_PROXY": "127.0.0.1"}
        total = args.articles + WARMUP_ARTICLES + args.backlog_articles
        receiver = Receiver(home)
        try:
            with (
                Site(total) as site,
                Databases(args.postgres_url, "webhooks") as dbs,
                Broker(args.redis_url) as broker,
            ):
                bench = Bench(args, site, dbs, broker, receiver, home)
                for repeat in range(args.repeat):
                    bench.repeat(results, repeat)
                rate = median(results.rate.get(("deliver_due", 1), [0.0]))
                if args.profile or (rate < TARGET_RATE and not args.no_profile):
                    directory = args.profile or home
                    directory.mkdir(parents=True, exist_ok=True)
                    path = directory.resolve() / "deliver_due.prof"
                    bench.embedded_drain(results, profile=path)
                    profile_text = profile_report(path, bench.backlog.deliveries,
                                                  kept=args.profile is not None)
                versions = server_versions(args.postgres_url, broker)
        finally:
            receiver.stop()
        text = report(results, args, started, profile_text, versions)
    print(text)
    if not args.no_docs:
        write_section("bench_webhooks", text)
        print(f"written to {ROOT / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
