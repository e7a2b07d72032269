"""Extraction of real page structures: the corpus in tests/fixtures/pages, golden cases as data.

Each ``<name>.html`` reproduces the layout of a real kind of news page (a 2009 table layout,
``<br>`` layouts, ``<div>``-only paragraphs, live blogs, AMP, JSON-LD bodies, paywalled teasers,
consent walls, in English and German), written for these tests; ``<name>.json`` says what a
reader sees as the article: its paragraphs with their kinds, which rule found the body, and the
headline, or the error a page without an article must give. The benchmark
(benchmarks/bench_extract.py) scores tracker and plain trafilatura on the same corpus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tracker.errors import ExtractionError
from tracker.extract import explain_page

PAGES = Path(__file__).parent / "fixtures" / "pages"
NAMES = sorted(path.stem for path in PAGES.glob("*.html"))


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))
    return data


ARTICLES = [name for name in NAMES if "error" not in expected(name)]
NON_ARTICLES = [name for name in NAMES if "error" in expected(name)]


def extracted(name: str) -> Any:
    return explain_page((PAGES / f"{name}.html").read_bytes(), url=expected(name)["url"])


def test_the_corpus_is_there() -> None:
    assert len(ARTICLES) >= 15
    assert NON_ARTICLES


@pytest.mark.parametrize("name", ARTICLES)
def test_paragraphs_are_what_a_reader_sees(name: str) -> None:
    got = [[p.kind, p.text] for p in extracted(name).article.paragraphs]
    assert got == expected(name)["paragraphs"]


@pytest.mark.parametrize("name", ARTICLES)
def test_the_body_comes_from_the_expected_source(name: str) -> None:
    assert extracted(name).source == expected(name)["source"]


@pytest.mark.parametrize("name", ARTICLES)
def test_the_headline_is_the_title(name: str) -> None:
    assert extracted(name).article.metadata.title == expected(name)["title"]


@pytest.mark.parametrize("name", NON_ARTICLES)
def test_a_page_without_an_article_is_refused(name: str) -> None:
    with pytest.raises(ExtractionError, match=expected(name)["error"]):
        extracted(name)


@pytest.mark.parametrize("name", NAMES)
def test_every_page_has_its_expectations(name: str) -> None:
    data = expected(name)
    assert data["url"].startswith("http")
    assert data["layout"]
    if "error" not in data:
        assert data["source"] in {"trafilatura", "json-ld body", "itemprop", "live blog"}
        for kind, text in data["paragraphs"]:
            assert kind in {"text", "heading", "item", "quote", "caption", "credit", "time"}
            assert text == " ".join(text.split()), "expected texts are normalised"


def test_no_expected_paragraph_is_furniture() -> None:
    """The corpus's expectations themselves hold no line the noise rules call furniture."""
    from tracker.noise import boilerplate_rule

    for name in ARTICLES:
        for kind, text in expected(name)["paragraphs"]:
            assert boilerplate_rule(text, kind) is None, (name, text)
