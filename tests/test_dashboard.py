"""docs/grafana-dashboard.json: valid, every query names metrics tracker really serves (read
from a real scrape), every metric is on a panel, and docs/dashboard.py can draw every panel."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType

from tests.clihelp import ROOT
from tracker import metrics
from tracker.app import App
from tracker.housekeeping import record_tick

DASHBOARD = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())


def renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard", ROOT / "docs" / "dashboard.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def served(app: App) -> set[str]:
    """tracker's metric families in a scrape of ``app``'s metrics (counters as ``_total``)."""
    record_tick(app, claimed=0)
    metrics.check_done("unchanged", 0.1, 1.0)
    metrics.extracted("itemprop")
    metrics.delivery_attempted("delivered", 1)
    metrics.LEASE_TAKEOVERS.labels("article")  # a labelled series exists before its first inc
    return {f"{family.name}_total" if family.type == "counter" else family.name
            for family in metrics.registry(app).collect() if family.name.startswith("tracker_")}


def queried() -> set[str]:
    names = set()
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            names |= set(re.findall(r"\b(tracker_[a-z_]+)", target["expr"]))
    return {re.sub(r"_bucket$", "", name) for name in names}


def test_every_query_names_a_served_metric_and_every_metric_is_shown(app: App) -> None:
    exposed = served(app)
    assert queried() <= exposed, queried() - exposed
    assert exposed == queried()  # and nothing is left off the dashboard


def test_panels_are_laid_out_and_each_has_a_renderer() -> None:
    module = renderer()
    keys = [module.panel_key(panel) for panel in DASHBOARD["panels"]]
    assert sorted(keys) == sorted(module.PANELS)
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["w"] == 12


def test_the_renderer_interpolates_quantiles_as_prometheus_does() -> None:
    module = renderer()
    buckets = [(1.0, 10.0), (2.0, 30.0), (float("inf"), 40.0)]
    assert module._quantile(0.5, buckets) == 1.5  # rank 20: halfway through (1, 2]
    assert module._quantile(0.95, buckets) == 2.0  # in +Inf: the highest finite bound
    assert module._quantile(0.5, []) is None
