"""A site's article template: where the body sits and which of its elements are paragraphs,
learned from a page the generic extractor (trafilatura) read, so that later pages of the site
are read with one walk of plain lxml.

A ``Template`` is two things, both in terms that stay the same from one article page of a site
to the next:

- the **container**: the path of elements from ``<body>`` down to the innermost element holding
  every paragraph the generic extractor gave, each step a tag with its stable class names (no
  ids, no class names with digits: ``article-12345`` names one page, not the site);
- the **paragraph signatures**: for each paragraph's element, its path below the container in
  the same terms (``p.story-text__p``, ``figure.media/figcaption.media__text``).

``apply`` finds the container (exactly one element must fit the path) and walks it into blocks
with ``tracker.extract.structure``, keeping those whose element has a learned signature; the
pipeline then runs the very same furniture and noise steps as after the generic extractor.
None when the page does not fit. Whether a template may be trusted is never decided here: the
pipeline compares its output with the full extractor's on the page it was learned from and on
the next pages (``tracker.templates`` keeps that record per host).

Every byte is hostile: a template is learned from page text, so its size is bounded
(``MAX_STEPS``, ``MAX_SIGNATURES``, the length of names), and it is used by comparing strings
while walking the tree (never turned into an XPath or CSS expression). Finding the container
visits each element at most once and the walk is the structure walk of one subtree, so applying
a template costs at most one walk of the page, a fraction of the generic extractor's work.
Pure: lxml elements in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml.etree import _Element

from tracker.extract.structure import Block, blocks

# A container deeper than this below <body> is not learned (libxml2 caps nesting at 256).
MAX_STEPS = 64
# At most this many different paragraph signatures: an article template has a handful.
MAX_SIGNATURES = 64
# ... each at most this long (a paragraph's path below the container).
MAX_SIGNATURE_CHARS = 400
# Class names kept per step, and their length: enough to tell a body from a teaser box.
MAX_CLASSES = 3
MAX_CLASS_CHARS = 40
FORMAT = 1
_STABLE_CLASS = re.compile(r"[A-Za-z_-][A-Za-z_-]*")


@dataclass(frozen=True, slots=True)
class Template:
    """Where a site's article body is and which elements in it hold its paragraphs."""

    container: tuple[str, ...]  # steps from <body> down; () is <body> itself
    paragraphs: frozenset[str]  # signatures of the paragraph elements below the container

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "container": list(self.container),
                "paragraphs": sorted(self.paragraphs)}

    @property
    def container_path(self) -> str:
        """The container as a readable path (``body > div.page > article.story``)."""
        return " > ".join(("body", *self.container))


def from_json(data: Any) -> Template | None:
    """The template stored as ``Template.to_json`` made it; None for anything else (a stored
    value is read back as hostile as the page it came from)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    container, paragraphs = data.get("container"), data.get("paragraphs")
    if not isinstance(container, list) or not isinstance(paragraphs, list):
        return None
    if len(container) > MAX_STEPS or not 0 < len(paragraphs) <= MAX_SIGNATURES:
        return None
    if not all(isinstance(s, str) and len(s) <= MAX_SIGNATURE_CHARS
               for s in [*container, *paragraphs]):
        return None
    return Template(tuple(container), frozenset(paragraphs))


def step(element: _Element) -> str:
    """An element as a template step: its tag and up to ``MAX_CLASSES`` stable class names."""
    names = (element.get("class") or "").split()
    stable = sorted({n for n in names if len(n) <= MAX_CLASS_CHARS and _STABLE_CLASS.fullmatch(n)})
    return ".".join([str(element.tag), *stable[:MAX_CLASSES]])


def learn(tree: _Element, found: Sequence[Block]) -> Template | None:
    """The template of the paragraphs ``found`` on ``tree``, or None when they do not make one
    (a paragraph that stands in no element of the page, too deep or too many kinds)."""
    body = tree.find("body")
    if body is None or not found:
        return None
    elements = list({id(b.element): b.element for b in found}.values())
    container = _common_ancestor(elements)
    if container is None:
        return None
    path = _path(container, body)
    if path is None or len(path) > MAX_STEPS:
        return None
    signatures: set[str] = set()
    for element in elements:
        signature = _signature(element, container)
        if signature is None or len(signature) > MAX_SIGNATURE_CHARS:
            return None
        signatures.add(signature)
        if len(signatures) > MAX_SIGNATURES:
            return None
    return Template(tuple(path), frozenset(signatures))


def apply(template: Template, tree: _Element) -> list[Block] | None:
    """The paragraphs the template finds on ``tree``, in document order; None when the page
    does not fit it (no container, or two, or no paragraph in it)."""
    container = find_container(template, tree)
    if container is None:
        return None
    # Keyed by the elements themselves: lxml hands out one proxy per node while it is held.
    paths: dict[_Element, str] = {container: ""}
    kept = [b for b in blocks(container)
            if _signature_in(b.element, paths) in template.paragraphs]
    return kept or None


def _signature_in(element: _Element, paths: dict[_Element, str]) -> str | None:
    """``_signature`` below the container, whose own path is in ``paths`` (the elements'
    paths found so far, extended here: blocks share their ancestors)."""
    pending: list[_Element] = []
    current: _Element | None = element
    while current is not None and current not in paths:
        pending.append(current)
        if len(pending) > MAX_STEPS:
            return None
        current = current.getparent()
    if current is None:
        return None
    path = paths[current]
    for below in reversed(pending):
        path = f"{path}/{step(below)}" if path else step(below)
        paths[below] = path
    return path


def find_container(template: Template, tree: _Element) -> _Element | None:
    """The one element at the template's container path; None when none or several are."""
    body = tree.find("body")
    if body is None:
        return None
    current = [body]
    for wanted in template.container:
        current = [child for element in current for child in element
                   if isinstance(child.tag, str) and step(child) == wanted]
        if not current:
            return None
    return current[0] if len(current) == 1 else None


def _path(element: _Element, body: _Element) -> list[str] | None:
    steps: list[str] = []
    while element is not body:
        steps.append(step(element))
        parent = element.getparent()
        if parent is None or len(steps) > MAX_STEPS:
            return None  # outside <body>: the head, or a paragraph standing in no element
        element = parent
    return steps[::-1]


def _signature(element: _Element, container: _Element) -> str | None:
    steps: list[str] = []
    while element is not container:
        steps.append(step(element))
        parent = element.getparent()
        if parent is None or len(steps) > MAX_STEPS:
            return None
        element = parent
    return "/".join(reversed(steps))


def _common_ancestor(elements: list[_Element]) -> _Element | None:
    """The innermost element holding all of ``elements`` (itself one of them, maybe)."""
    chain = [elements[0], *elements[0].iterancestors()]
    depth = {id(e): i for i, e in enumerate(chain)}
    lowest = 0
    for element in elements[1:]:
        for candidate in (element, *element.iterancestors()):
            if id(candidate) in depth:
                lowest = max(lowest, depth[id(candidate)])
                break
        else:
            return None
    return chain[lowest]
