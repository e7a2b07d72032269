"""Render docs/grafana-dashboard.json's panels from real metric values (docs/img/dashboard.png).

No Grafana runs here, so this script plays its part, plainly: it runs a short real workload
with tracker's own code (the test site and webhook receiver on 127.0.0.1, a temporary SQLite
database, claims and checks as the tick makes them, webhook deliveries to a receiver that
fails for a while, a worker lost with four claims, a beat that stalls), scrapes
``tracker.metrics.registry`` every ``STEP`` seconds as Prometheus would, computes each panel's
query in Python (``PANELS``: the same PromQL, rates over ``WINDOW`` seconds for
``$__rate_interval``), draws the panels as SVG in a page styled like Grafana's dark theme and
screenshots it with Chromium::

    .venv/bin/python docs/dashboard.py [--seconds 120] [--out docs/img/dashboard.png]

The workload's tick counts lease takeovers itself (claims of articles whose lease ran out);
in the service that count comes from the claim (``tracker.metrics.lease_taken_over``).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
STEP = 2.0  # seconds between scrapes
WINDOW = 10.0  # seconds of a rate ($__rate_interval)
Labels = tuple[tuple[str, str], ...]
Scrape = dict[tuple[str, Labels], float]
Series = dict[str, list[float | None]]


# --- the workload -------------------------------------------------------------------------------


def run_workload(seconds: float) -> list[tuple[float, Scrape]]:
    """Real checks and deliveries for ``seconds``; the scrapes taken meanwhile."""
    os.environ.update(TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                      TRACKER_PER_HOST_RATE="0", TZ="UTC")
    from sqlalchemy import func, select, update

    from db.models import Article
    from db.session import session_scope
    from tests.articleserver import FIXTURES, ArticleServer
    from tests.receiver import WebhookReceiver
    from tracker import delivery, housekeeping, metrics, scheduling
    from tracker.app import App
    from tracker.articles import add_articles
    from tracker.check import check_article
    from tracker.clock import utcnow
    from tracker.config import load_settings
    from tracker.subscriptions import subscribe

    rng = random.Random(16)
    scrapes: list[tuple[float, Scrape]] = []
    with tempfile.TemporaryDirectory() as folder, ArticleServer(FIXTURES) as site, \
            WebhookReceiver() as receiver:
        app = App(load_settings(database_url=f"sqlite:///{folder}/tracker.db",
                                lease_seconds=8, webhook_retry_schedule="3s,6s,12s,24s",
                                webhook_timeout=2.0), create_database=True)
        slugs = [f"story-{i:02}" for i in range(40)]
        add_articles(app, [site.add_article(slug, 1) for slug in slugs], interval=3600)
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        versions = dict.fromkeys(slugs, 1)
        registry = metrics.registry(app)
        start = time.monotonic()
        lost_once = receiver_down = False
        with ThreadPoolExecutor(4) as pool:
            while (now := time.monotonic() - start) < seconds:
                phase = now / seconds
                down = 0.35 < phase < 0.6  # the receiver answers 503 for a while
                if down != receiver_down:
                    receiver.respond("fail", status=503, times=10_000) if down else (
                        receiver.respond("ok"))
                    receiver_down = down
                for slug in rng.sample(slugs, 6):  # some stories are rewritten
                    if versions[slug] < 5 and rng.random() < 0.4:
                        versions[slug] += 1
                        site.set_version(slug, versions[slug])
                with session_scope(app.writer) as session:  # and some fall due
                    due = rng.sample(range(1, len(slugs) + 1), 10)
                    session.execute(update(Article).where(Article.id.in_(due))
                                    .values(next_check_at=func.now()))
                if not 0.75 < phase < 0.87:  # the beat stalls for a while
                    with session_scope(app.reader) as session:
                        expired = set(session.scalars(select(Article.id).where(
                            Article.lease_until < utcnow())))
                    claims = scheduling.claim_due(app)
                    metrics.lease_taken_over("article",
                                             sum(c.article_id in expired for c in claims))
                    if phase > 0.7 and not lost_once:  # a worker dies holding four claims
                        claims, lost_once = claims[4:], True
                    list(pool.map(lambda c: check_article(app, c.article_id,
                                                          lease_token=c.token), claims))
                    delivery.dispatch_events(app)
                    delivery.deliver_due(app)
                    housekeeping.record_tick(app, claimed=len(claims))
                scrapes.append((now, scrape(registry)))
                time.sleep(max(0.0, STEP - (time.monotonic() - start - now)))
        app.close()
    return scrapes


def scrape(registry: Any) -> Scrape:
    return {(sample.name, tuple(sorted(sample.labels.items()))): float(sample.value)
            for family in registry.collect() for sample in family.samples}


# --- the panels' queries, in Python -------------------------------------------------------------


def rate(scrapes: list[tuple[float, Scrape]], name: str, by: str) -> Series:
    """``sum by (by) (rate(name[WINDOW]))``."""
    lag = max(1, round(WINDOW / STEP))
    series: Series = {}
    for i, (_, now) in enumerate(scrapes):
        before = scrapes[i - lag][1] if i >= lag else {}
        sums: dict[str, float] = {}
        for (sample, labels), value in now.items():
            if sample == name:
                key = dict(labels).get(by, "")
                sums[key] = sums.get(key, 0.0) + (value - before.get((sample, labels), 0.0))
        for key, delta in sums.items():
            series.setdefault(key, [None] * len(scrapes))[i] = delta / WINDOW if i else None
    return series


def increase(scrapes: list[tuple[float, Scrape]], name: str, by: str) -> Series:
    return {k: [None if v is None else v * WINDOW for v in values]
            for k, values in rate(scrapes, name, by).items()}


def quantiles(scrapes: list[tuple[float, Scrape]], name: str) -> Series:
    """``histogram_quantile(q, sum by (le) (rate(name_bucket[WINDOW])))`` for p50 and p95."""
    buckets = rate(scrapes, f"{name}_bucket", "le")
    bounds = sorted(buckets, key=lambda le: math.inf if le == "+Inf" else float(le))
    series: Series = {"p50": [], "p95": []}
    for i in range(len(scrapes)):
        counts = [(math.inf if le == "+Inf" else float(le), buckets[le][i] or 0.0)
                  for le in bounds]
        for label, q in (("p50", 0.5), ("p95", 0.95)):
            series[label].append(_quantile(q, counts))
    return series


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's interpolation within the bucket that holds the rank."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def gauge(scrapes: list[tuple[float, Scrape]], name: str, by: str | None,
          keep: Callable[[str], bool] = lambda _: True, how: Callable[..., float] = max) -> Series:
    """``how by (by) (name)`` (all series in one when ``by`` is None)."""
    series: Series = {}
    for i, (_, now) in enumerate(scrapes):
        groups: dict[str, list[float]] = {}
        for (sample, labels), value in now.items():
            key = dict(labels).get(by, "") if by else name
            if sample == name and keep(key):
                groups.setdefault(key, []).append(value)
        for key, values in groups.items():
            series.setdefault(key, [None] * len(scrapes))[i] = how(values)
    return series


BACKLOG = {"due", "overdue", "in_progress", "stranded"}
PANELS: dict[str, Callable[[list[tuple[float, Scrape]]], Series]] = {
    "checks": lambda s: rate(s, "tracker_checks_total", "outcome"),
    "lag": lambda s: quantiles(s, "tracker_check_lag_seconds"),
    "duration": lambda s: quantiles(s, "tracker_check_duration_seconds"),
    "backlog": lambda s: gauge(s, "tracker_articles", "state", BACKLOG.__contains__),
    "deliveries": lambda s: gauge(s, "tracker_deliveries", "state", how=sum),
    "oldest": lambda s: gauge(s, "tracker_delivery_oldest_waiting_seconds", None),
    "attempts": lambda s: rate(s, "tracker_delivery_attempts_total", "result"),
    "retries": lambda s: {f"attempt {k}": v for k, v in
                          rate(s, "tracker_delivery_attempts_total", "attempt").items()},
    "extraction": lambda s: rate(s, "tracker_extractions_total", "path"),
    "takeovers": lambda s: increase(s, "tracker_lease_takeovers_total", "kind"),
    "tick": lambda s: gauge(s, "tracker_last_tick_age_seconds", None),
    "database": lambda s: gauge(s, "tracker_database_up", None, how=min),
}


def panel_key(panel: dict[str, Any]) -> str:
    return str(panel["description"]).removeprefix("tracker-panel:")


# --- drawing ------------------------------------------------------------------------------------


COLOURS = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9",
           "#fade2a")


def svg(times: list[float], series: Series, unit: str, width: int = 660,
        height: int = 220) -> str:
    left, right, top, bottom = 52, 10, 10, 24
    values = [v for line in series.values() for v in line if v is not None]
    peak = max(values, default=1.0) or 1.0
    peak = _nice(peak)
    span = max(times[-1] - times[0], 1.0) if times else 1.0

    def x(t: float) -> float:
        return left + (t - times[0]) / span * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - v / peak) * (height - top - bottom)

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    for k in range(5):
        level = peak * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(level):.1f}" '
                     f'y2="{y(level):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(level) + 4:.1f}" class="axis" '
                     f'text-anchor="end">{_format(level, unit)}</text>')
    for k in range(0, int(span) + 1, 30):
        parts.append(f'<text x="{x(times[0] + k):.1f}" y="{height - 6}" class="axis" '
                     f'text-anchor="middle">{k} s</text>')
    for colour, (_, line) in zip(COLOURS * 3, sorted(series.items()), strict=False):
        points = [f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, line, strict=True)
                  if v is not None]
        if points:
            parts.append(f'<polyline points="{" ".join(points)}" stroke="{colour}" '
                         'fill="none" stroke-width="2"/>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{html.escape(name)}</span>'
                     for c, name in zip(COLOURS * 3, sorted(series), strict=False))
    return "".join(parts) + f'<div class="legend">{legend or "no data"}</div>'


def _nice(value: float) -> float:
    magnitude = 10 ** math.floor(math.log10(value)) if value > 0 else 1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _format(value: float, unit: str) -> str:
    text = f"{value:.3g}"
    return {"s": f"{text} s", "ops": f"{text}/s"}.get(unit, text)


def page(dashboard: dict[str, Any], scrapes: list[tuple[float, Scrape]]) -> str:
    times = [t for t, _ in scrapes]
    panels = []
    for panel in dashboard["panels"]:
        series = PANELS[panel_key(panel)](scrapes)
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        panels.append(f'<section><h2>{html.escape(panel["title"])}</h2>'
                      f'{svg(times, series, unit)}</section>')
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ background:#111217; color:#ccccdc; font:13px Inter, Helvetica, Arial, sans-serif;
       margin:0; padding:16px; width:1380px }}
header {{ font-size:18px; margin:0 0 12px 4px }} header small {{ color:#8e8e9a; font-size:12px }}
main {{ display:grid; grid-template-columns:1fr 1fr; gap:8px }}
section {{ background:#181b1f; border:1px solid #2c3235; border-radius:2px; padding:8px 10px }}
h2 {{ font-size:13px; font-weight:500; margin:0 0 4px }}
.grid {{ stroke:#2c3235 }} .axis {{ fill:#8e8e9a; font-size:11px }}
.legend span {{ margin-right:14px; font-size:12px }}
.legend i {{ display:inline-block; width:14px; height:4px; margin:0 6px 3px 0 }}
</style><header>{html.escape(dashboard["title"])} <small>rendered by docs/dashboard.py from
{len(scrapes)} scrapes of a real {times[-1]:.0f} s workload (rates over {WINDOW:.0f} s); not
Grafana</small></header><main>{"".join(panels)}</main>"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    dashboard = json.loads(DASHBOARD.read_text())
    scrapes = run_workload(args.seconds)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        source = Path(folder) / "dashboard.html"
        source.write_text(page(dashboard, scrapes))
        browser = playwright.chromium.launch(
            executable_path=args.chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        view = browser.new_page(viewport={"width": 1412, "height": 900})
        view.goto(source.as_uri())
        view.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"{args.out} ({args.out.stat().st_size:,} bytes, {len(scrapes)} scrapes)")


if __name__ == "__main__":
    main()
