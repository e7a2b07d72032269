"""Undoing a response's content coding within a cap on the *decoded* bytes.

A few kilobytes of gzip can unpack to gigabytes, and each stacked coding multiplies that again
(``Content-Encoding: gzip, gzip``: 6.8 KB became 4.3 GB inside httpx). So tracker decodes
itself, from the raw bytes, asking zlib for at most the room left under the cap on every call:
memory never holds more than the cap, whatever the ratio.

Only one coding is accepted, gzip (also "x-gzip") or deflate (zlib-wrapped, or raw as some
servers send it), the two tracker asks for in ``Accept-Encoding``. More than one is refused,
not decoded: no real site stacks codings, and refusing keeps one bounded layer the whole story.
br and zstd are not asked for, so a body in them is refused too.

Pure: ``zlib`` only. Errors are ``tracker.errors`` types naming the URL.
"""

from __future__ import annotations

import zlib

from tracker.errors import BodyTooLarge, UnsupportedContent

ACCEPT_ENCODING = "gzip, deflate"
CODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class Decoder:
    """Feeds raw body bytes in, gets decoded bytes out, never more than ``cap`` in all.

    ``codings`` are those of ``tracker.headers.content_codings`` (identity already left out)."""

    def __init__(
        self, url: str, codings: tuple[str, ...], cap: int, *, truncate: bool = False
    ) -> None:
        if len(codings) > 1:
            raise UnsupportedContent(
                url, f"stacked content codings ({', '.join(codings)}) are refused"
            )
        if codings and codings[0] not in CODINGS:
            raise UnsupportedContent(url, f"content coding {codings[0]!r} is not supported "
                                          f"(tracker asks for {ACCEPT_ENCODING})")
        self.url = url
        self.cap = cap
        self.truncate = truncate  # past the cap: cut there (``full``) rather than raise
        self.full = False
        self.coding = codings[0] if codings else None
        self.produced = 0
        self._zlib: zlib._Decompress | None = None
        self._pending = b""  # deflate: the first bytes, until the wrapping is known

    def decode(self, data: bytes) -> bytes:
        """The decoded bytes of ``data`` (raw body bytes, in order)."""
        if self.coding is None:
            return self._count(data)
        if self._zlib is None:
            data = self._start(data)
            if self._zlib is None:
                return b""
        return self._inflate(data)

    def finish(self) -> bytes:
        """What is left once the raw body has ended (a short deflate body, say)."""
        if self.coding is not None and self._zlib is None and self._pending:
            data, self._pending = self._pending, b""
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inflate(data)
        if self._zlib is not None:
            try:
                return self._count(self._zlib.flush())
            except zlib.error as exc:
                raise UnsupportedContent(self.url, f"broken {self.coding} body ({exc})") from exc
        return b""

    def _start(self, data: bytes) -> bytes:
        if self.coding in {"gzip", "x-gzip"}:
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
            return data
        data = self._pending + data
        if len(data) < 2:
            self._pending = data
            return b""
        self._pending = b""
        wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return data

    def _inflate(self, data: bytes) -> bytes:
        assert self._zlib is not None
        out = []
        while data:
            room = self.cap - self.produced
            try:
                chunk = self._zlib.decompress(data, room + 1)
            except zlib.error as exc:
                raise UnsupportedContent(self.url, f"broken {self.coding} body ({exc})") from exc
            out.append(self._count(chunk))
            data = b""
            if self._zlib.eof and self._zlib.unused_data and self.coding != "deflate":
                # another gzip member follows: unpacked into the same cap
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        return b"".join(out)

    def _count(self, chunk: bytes) -> bytes:
        self.produced += len(chunk)
        if self.produced <= self.cap:
            return chunk
        if not self.truncate:
            raise BodyTooLarge(self.url, f"body decodes to more than the {self.cap:,}-byte cap")
        self.full = True
        keep = len(chunk) - (self.produced - self.cap)
        self.produced = self.cap
        return chunk[:keep]
