"""Benchmark of notification channels (issue 12): messages per second to a fast local receiver,
and the latency from a stored change to the message received, on a SQLite file.

Run ``.venv/bin/python benchmarks/bench_channels.py`` (options ``--articles`` (100),
``--channels`` (5), ``--latency-articles`` (40), ``--repeat`` (3), ``--no-docs``). It prints a
markdown table and writes it to its section of docs/benchmarks.md.

Setup: ``tests/articleserver.py`` in its own process serves the articles; ``tracker migrate``,
``tracker add``, ``tracker check --all`` store version 1 of each. The receiver is a
``ThreadingHTTPServer`` on 127.0.0.1 in this process (HTTP/1.1 keep-alive), answering 200
``{}`` at once and recording the arrival time (``time.time()``) and the article link of each
message. Every tracker process runs with ``TRACKER_ALLOW_NETWORKS=127.0.0.0/8``.

Messages per second. For each repeat the site serves every article at the other of versions 1
and 2 (the fixture's large rewrite) and
``tracker check --all`` stores one ``article.changed`` event per article; then a child process
(this script, ``--child deliver``) calls ``tracker.delivery.deliver_due(app, limit=100)`` until
nothing is left, as the embedded courier does, and the rate is messages / (last arrival - the
child's first call). Measured the same way in the same run: ``--channels`` Apprise ``json://``
channels (each message built from the change: Apprise, the text dialect, the service's limit),
then as many signed webhook endpoints (``tracker subscribe``) for the next version, so the
ratio compares the two paths on the same machine at the same time.

Latency. One json:// channel; ``tracker run --concurrency 2`` runs; the site moves every article
to its next version and the articles fall due one every 0.25 s (``next_check_at`` written ahead
of time). Latency = arrival at the receiver - ``events.created_at`` (set in the check's
transaction): stored → received.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from db import epoch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    BIN,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    median,
    package_versions,
    table,
    write_section,
)

_LINK = re.compile(r"/news/(article-\d+)")


class Receiver:
    """Records (path, article slug, arrival time) of every POST; answers 200 ``{}``."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                now = time.time()
                found = _LINK.search(body.decode("utf-8", "replace"))
                with receiver.lock:
                    receiver.arrivals.append((self.path, found[1] if found else "", now))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for path, _, _ in self.arrivals if path.startswith(prefix))

    def wait(self, prefix: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count(prefix) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.count(prefix)} of {count} {prefix} messages arrived")
            time.sleep(0.05)

    def since(self, prefix: str, t0: float) -> list[tuple[str, float]]:
        with self.lock:
            return [(s, t) for p, s, t in self.arrivals if p.startswith(prefix) and t >= t0]


_SERVED = {"version": 1}


def flip(site: Site) -> None:
    """Every article to the other of versions 1 and 2 (the fixture's large rewrite, a real
    change each way; later versions end in typographic noise, which is no event)."""
    _SERVED["version"] = 3 - _SERVED["version"]
    for slug in site.slugs:
        site.control("version", slug=slug, version=_SERVED["version"])


def tracker(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([str(BIN / "tracker"), *args], env=env, input=stdin, text=True,
                          capture_output=True, timeout=600, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"tracker {' '.join(args)}: {done.returncode}: {done.stderr[-800:]}")
    return done.stdout


def deliver_child(database: str) -> None:
    """``--child deliver``: deliver everything due, print the time of the first call."""
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.delivery import deliver_due

    app = App(load_settings(database_url=f"sqlite:///{database}"))
    print(json.dumps({"t0": time.time()}), flush=True)
    while deliver_due(app, limit=100):
        pass


def rate(env: dict[str, str], site: Site, receiver: Receiver, database: str, prefix: str,
         expected: int) -> float:
    flip(site)
    tracker(env, "check", "--all")  # which sends them too, untimed: they are sent again
    with sqlite3.connect(database.removeprefix("sqlite:///")) as connection:
        now = _stamp(dt.datetime.now(dt.UTC))
        connection.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, "
            "lease_token = NULL, lease_until = NULL WHERE endpoint_id IN "
            "(SELECT id FROM endpoints WHERE state = 'active')", (now,))
    before = receiver.count(prefix)
    child = subprocess.run([sys.executable, __file__, "--child", "deliver",
                            database.removeprefix("sqlite:///")], env=env,
                           text=True, capture_output=True, timeout=600, check=True)
    t0 = json.loads(child.stdout.splitlines()[0])["t0"]
    receiver.wait(prefix, before + expected, 30)
    last = max(t for _, t in receiver.since(prefix, t0))
    return expected / (last - t0)


def latency(env: dict[str, str], site: Site, receiver: Receiver, database: Path,
            articles: int, prefix: str) -> list[float]:
    runner = subprocess.Popen([str(BIN / "tracker"), "run", "--concurrency", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # started, first round done
        flip(site)
        with sqlite3.connect(database) as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM articles ORDER BY id")]
            # warm-up: one message first (Apprise is imported on the first one)
            connection.execute("UPDATE articles SET next_check_at = ? WHERE id = ?",
                               (_stamp(dt.datetime.now(dt.UTC)), ids[-1]))
        receiver.wait(prefix, receiver.count(prefix) + 1, 60)
        t0, before = time.time(), receiver.count(prefix)
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        with sqlite3.connect(database) as connection:
            for index, article_id in enumerate(ids[:articles]):
                due = start + dt.timedelta(seconds=0.25 * index)
                connection.execute("UPDATE articles SET next_check_at = ? WHERE id = ?",
                                   (_stamp(due), article_id))
        receiver.wait(prefix, before + articles, 120)
    finally:
        runner.terminate()
        runner.wait(timeout=30)
    arrived = dict(receiver.since(prefix, t0))
    stored = {}
    with sqlite3.connect(database) as connection:
        for url, created in connection.execute(
            "SELECT a.url, e.created_at FROM events e JOIN articles a ON a.id = e.article_id "
            "WHERE e.type = 'article.changed'"
        ):
            slug = _LINK.search(url)
            when = epoch.from_micros(created).timestamp()  # db.models.CompactUTCDateTime
            if slug and slug[1] in arrived and when >= t0 - 1:
                stored[slug[1]] = when
    return sorted(arrived[s] - stored[s] for s in stored)


def _stamp(when: dt.datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite (UTC, no offset)."""
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def p95(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--latency-articles", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", nargs=2)
    options = parser.parse_args()
    if options.child:
        deliver_child(options.child[1])
        return
    info = machine_info()
    receiver = Receiver()
    base = f"http://127.0.0.1:{receiver.port}"
    with tempfile.TemporaryDirectory() as tmp, Site(options.articles) as site:
        home = Path(tmp)
        database = home / "bench.db"
        env = clean_env(home, TRACKER_DATABASE_URL=f"sqlite:///{database}",
                        TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                        TRACKER_PER_HOST_RATE="0", TRACKER_PER_HOST_CONCURRENCY="8")
        tracker(env, "migrate")
        tracker(env, "add", "--every", "24h", "-", stdin="\n".join(site.urls()))
        tracker(env, "check", "--all")
        messages = options.articles * options.channels
        channel_rates, webhook_rates = [], []
        for round_ in range(options.repeat):
            names = [f"c{round_}-{i}" for i in range(options.channels)]
            for name in names:
                tracker(env, "notify", "add", f"json://127.0.0.1:{receiver.port}/{name}",
                        "--name", name, "--events", "article.changed")
            channel_rates.append(rate(env, site, receiver, f"sqlite:///{database}", f"/c{round_}-",
                                      messages))
            for name in names:
                tracker(env, "notify", "remove", name)
            hooks = [f"{base}/w{round_}-{i}" for i in range(options.channels)]
            for url in hooks:
                tracker(env, "subscribe", url, "--events", "article.changed")
            webhook_rates.append(rate(env, site, receiver, f"sqlite:///{database}", f"/w{round_}-",
                                      messages))
            for url in hooks:
                tracker(env, "unsubscribe", url)
        tracker(env, "notify", "add", f"json://127.0.0.1:{receiver.port}/lc", "--name",
                "latency", "--events", "article.changed")
        delays = latency(env, site, receiver, database, options.latency_articles, "/lc")
        tracker(env, "notify", "remove", "latency")
        tracker(env, "subscribe", f"{base}/lw", "--events", "article.changed")
        hook_delays = latency(env, site, receiver, database, options.latency_articles, "/lw")
    rows = [
        ["channels (Apprise json://, text message)", f"{median(channel_rates):,.0f}",
         " / ".join(f"{r:,.0f}" for r in channel_rates)],
        ["webhooks (signed JSON), same run", f"{median(webhook_rates):,.0f}",
         " / ".join(f"{r:,.0f}" for r in webhook_rates)],
    ]
    ratio = median(webhook_rates) / median(channel_rates)
    text = "\n\n".join([
        "## Notification channels: messages per second and latency (SQLite)",
        f"`{command_line()}`",
        f"### Messages per second ({options.articles} changed articles × {options.channels} "
        f"subscribers, one `deliver_due` process, median of {options.repeat})",
        table(["path", "messages/s", "each repeat"], rows),
        f"Webhook deliveries/s ÷ channel messages/s, same run: {ratio:.2f}. Both read each "
        "event's diff once (then cached for every subscriber and retry) and share the "
        "per-delivery database work (claim, record); a channel message adds Apprise parsing "
        "the channel's URL and opening a new connection per message (webhooks reuse pooled "
        "ones), and rendering once per event and form of service. The machine is shared: "
        "compare the two rows, not runs (the load averages are below).",
        f"### Latency stored → received (`tracker run --concurrency 2`, "
        f"{len(delays)} articles due 0.25 s apart, one subscriber; after one warm-up message)",
        table(["subscriber", "median (s)", "p95 (s)", "max (s)"], [
            [name, f"{median(d):.3f}", f"{p95(d):.3f}", f"{max(d):.3f}"]
            for name, d in (("json:// channel", delays), ("webhook, same run", hook_delays))]),
        bullet_list(info | {"load average at end": " ".join(
            f"{x:.2f}" for x in os.getloadavg())} | package_versions(["apprise"])),
    ])
    print(text)
    if not options.no_docs:
        write_section("bench_channels", text)


if __name__ == "__main__":
    main()
