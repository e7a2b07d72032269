"""CSS selectors given by users (an article's ``--selector``, a host's ``--ignore-selector``)
applied to a page. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lxml.etree import _Element

from tracker.errors import ExtractionError


def css(selector: str) -> Any:
    """The compiled selector; ExtractionError saying why when it is not valid CSS."""
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    try:
        return CSSSelector(selector)
    except SelectorError as exc:
        raise ExtractionError(f"invalid CSS selector {selector!r}: {exc}") from exc


def drop_selected(
    tree: _Element, selectors: Sequence[str], note: Callable[[str, str], None] | None = None
) -> None:
    """A host's ignore selectors: the elements they match are not part of the page."""
    for selector in selectors:
        for element in css(selector)(tree):
            if element.getparent() is not None:
                if note:
                    note(f"host ignore selector {selector}", " ".join(element.itertext()))
                element.drop_tree()
