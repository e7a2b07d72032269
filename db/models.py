"""Typed SQLAlchemy 2.x models.

The tables, and the constraints that make a repeated check harmless:

- ``articles``: one row per tracked URL, with its schedule and conditional-GET validators.
- ``versions``: every distinct state of an article; ``UNIQUE(article_id, number)`` means two runs
  of the same check can never both store version N+1. Its metadata (headline, byline,
  publication date, lead image, extractor) is a ``version_meta`` row, stored once per
  distinct value; the ``Version`` class maps the join of both.
- ``paragraphs``: each distinct paragraph once, keyed by a 63-bit hash of its kind and text;
  versions refer to them by position through a compact reference list (see ``db.refs``).
- ``version_diffs``: each version's diff against the version before it, computed once when the
  version is stored (compressed JSON), with its summary counts and its ``minor`` flag.
- ``bodies``: the compressed raw response of a version (with its status, headers and final URL),
  so extraction can be re-run later and the response exported as a web archive.
- ``archive_captures``: a web archive's copy of a version (optional, ``archive_versions``).
- ``checks``: one row per attempt, successful or not, so failures are visible and nothing is lost.
- ``events``: the outbox, written in the same transaction as the version it describes;
  ``UNIQUE(article_id, seq)`` orders an article's events and refuses duplicates.
- ``hosts``: per-site rules (selector, ignore rules, request rate, notification threshold).
- ``sources``: feeds and sitemaps polled for new articles; ``source_entries`` remembers every
  entry a source listed (``UNIQUE(source_id, url)``), so an entry becomes an article once.
- ``article_aliases``: other URLs of a tracked story (tracking parameters, AMP, mobile, a
  second article merged into this one), so a story is tracked once whatever URL it comes by.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from db import compact, epoch
from db.states import CHECKED_PREDICATE

# A partial index's condition on PostgreSQL, kept in the index's ``info`` until a PostgreSQL
# engine is made (``for_postgresql``): see there why it is not a ``postgresql_where``.
POSTGRESQL_WHERE = "postgresql_where"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class _EpochMicros(TypeEngine[int]):
    """What SQLite keeps of a ``CompactUTCDateTime``: an integer, under the declared type
    DATETIME it had before (the schema does not change, only the values)."""

    __visit_name__ = "DATETIME"


class CompactUTCDateTime(UTCDateTime):
    """A ``UTCDateTime`` that SQLite stores as integer microseconds since 1970 (8 bytes)
    instead of 26 characters of text (migration 0013_paradelta): for the times every version
    and check writes, several times over (``checks.started_at`` in two indexes,
    ``versions.fetched_at`` in one, ``events.created_at``), 18 bytes each. Ordered and compared
    as before; PostgreSQL's ``timestamptz`` is 8 bytes already and stays. Raw SQL on SQLite
    binds these times with ``db.epoch.micros`` (``db.reads``)."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return _EpochMicros()
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> Any:
        value = super().process_bind_param(value, dialect)
        if value is None or dialect.name != "sqlite":
            return value
        return epoch.micros(value)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if isinstance(value, int):
            return epoch.from_micros(value)
        if isinstance(value, str):  # a row the migration has not seen: as UTCDateTime stored
            value = dt.datetime.fromisoformat(value)
        return super().process_result_value(value, dialect)


class _PackedText(TypeDecorator[Any]):
    """A value stored packed as bytes (``EventUid``, ``ContentHash``, ``EventData``): on
    PostgreSQL in a BYTEA column, on SQLite under the declared type ``sqlite_type`` the column
    had before, which SQLite keeps the bytes under as they are (the schema does not change,
    only the values)."""

    impl = LargeBinary
    sqlite_type: type[TypeEngine[bytes]]

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return self.sqlite_type()
        return dialect.type_descriptor(LargeBinary())


class _UidBytes(TypeEngine[bytes]):
    """What SQLite keeps of an ``EventUid``: bytes, under the declared type VARCHAR(40) it
    had before (the schema does not change, only the values)."""

    __visit_name__ = "VARCHAR"
    length = 40
    collation = None
    collation_schema = None


class EventUid(_PackedText):
    """An event's public id (the webhook-id), ``"evt_"`` and 24 hex digits as tracker makes
    them, stored as a tag byte and its 12 bytes: 13 bytes instead of 28 characters, in the row
    and in its unique index (migration 0013_paradelta). Any other id (made elsewhere, by a
    test) is stored as its UTF-8 after another tag, so every id reads back as given. SQLite
    keeps the declared VARCHAR(40) (it stores the bytes as they are); PostgreSQL's column is
    BYTEA."""

    sqlite_type = _UidBytes
    cache_ok = True  # read from each class's own namespace

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else uid_bytes(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):  # a row the migration has not seen
            return value
        return uid_text(bytes(value))


class _HashBytes(TypeEngine[bytes]):
    """What SQLite keeps of a ``ContentHash``: bytes, under the declared type VARCHAR(32)."""

    __visit_name__ = "VARCHAR"
    length = 32
    collation = None
    collation_schema = None


class _DataBytes(TypeEngine[bytes]):
    """What SQLite keeps of an ``EventData``: bytes, under the declared type JSON."""

    __visit_name__ = "JSON"


class ContentHash(_PackedText):
    """A version's content hash (32 hex digits) stored as its 16 bytes (``db.compact``,
    migration 0014_pgbytes): 17 bytes instead of 33 in every version row on PostgreSQL.
    SQLite keeps the declared VARCHAR(32); PostgreSQL's column is BYTEA."""

    sqlite_type = _HashBytes
    cache_ok = True  # read from each class's own namespace
    length = 32  # the longest text it takes, as VARCHAR(32) did (tracker import checks it)

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else compact.hash_bytes(value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):  # a row the migration has not seen
            return value
        return compact.hash_text(bytes(value))


class EventData(_PackedText):
    """An event's data (a JSON value) stored deflated against a dictionary of the keys events
    carry (``db.compact.pack_data``, migration 0014_pgbytes): about 15 bytes instead of 69 on
    the storage benchmark's corpus. Reads back the same value, so a webhook's payload, made
    from it, is byte for byte what it was. SQLite keeps the declared JSON; PostgreSQL's column
    is BYTEA. JSON text (a row the migration has not seen) still reads."""

    sqlite_type = _DataBytes
    cache_ok = True  # read from each class's own namespace

    def process_bind_param(self, value: Any, dialect: Any) -> bytes:
        return compact.pack_data(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return compact.unpack_data(value if isinstance(value, str) else bytes(value))


_UID = re.compile(r"evt_[0-9a-f]{24}")
_UID_PACKED, _UID_AS_TEXT = b"\x01", b"\x00"


def uid_bytes(uid: str) -> bytes:
    """An event id as ``EventUid`` stores it."""
    if _UID.fullmatch(uid):
        return _UID_PACKED + bytes.fromhex(uid[4:])
    return _UID_AS_TEXT + uid.encode()


def uid_text(data: bytes) -> str:
    """The event id ``uid_bytes`` stored as ``data``."""
    if data[:1] == _UID_PACKED and len(data) == 13:
        return "evt_" + data[1:].hex()
    if data[:1] == _UID_AS_TEXT:
        return data[1:].decode()
    raise ValueError(f"not a stored event id: {data[:16]!r}")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A content address (63 bits of SHA-256) as the key: on SQLite the rowid itself (INTEGER
# PRIMARY KEY), so the table needs no second index for it; the ids fit its signed 64 bits.
ContentKey = BigInteger().with_variant(Integer, "sqlite")


class Leased:
    """The columns of work claimed with a lease (articles, sources, deliveries; see
    ``db.lease``): set when a scheduler hands the row to a worker, renewed while the work runs,
    cleared when its result is stored. Work carrying another token (a duplicate or late
    message) stores nothing; a lease nobody renewed in time makes the row claimable again."""

    # The column saying when the row is due (``next_check_at``, ``next_attempt_at``). A claim
    # moves it to the lease's end, so rows in flight leave the range the next claim scans; a
    # lease that runs out makes its row due again by that very column.
    due_column: ClassVar[str]

    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # While leased: when the row was due before its claim moved the due column (the lag of
    # its work is measured from it; a lease given back restores it). Stale once the lease is
    # cleared: read it only while ``lease_token`` is set.
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Article(Leased, Base):
    __tablename__ = "articles"
    __table_args__ = (
        # The web view's articles page, newest change first, paged by keyset.
        Index("ix_articles_last_changed_at_id", "last_changed_at", "id"),
        # The claim's range: only articles that are checked at all (settled, merged and
        # paused ones are never due, however old their next_check_at).
        Index("ix_articles_due", "next_check_at", "id", sqlite_where=text(CHECKED_PREDICATE),
              info={POSTGRESQL_WHERE: CHECKED_PREDICATE}),
    )
    due_column = "next_check_at"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255), index=True)
    # A db.states.ArticleState: active (checked on schedule), unavailable / deleted (404/410
    # once / twice in a row; still re-checked, slowly), settled, merged, paused.
    state: Mapped[str] = mapped_column(String(16), default="active")
    selector: Mapped[str | None] = mapped_column(Text)
    base_interval: Mapped[int] = mapped_column(Integer)  # seconds, as the user asked
    interval: Mapped[int] = mapped_column(Integer)  # seconds, adapted to how often it changes
    # Indexed only where it is checked (ix_articles_due): the claim's own index.
    next_check_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_digest: Mapped[str | None] = mapped_column(String(64))  # raw bytes of the last 200
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # lease_token, lease_until (Leased): the claim on the next check.
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The feed or sitemap the article was discovered in, if any.
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    # The last good page carried a "developing story" marker: the interval stays short.
    developing: Mapped[bool] = mapped_column(Boolean, default=False)

    versions: Mapped[list[Version]] = relationship(
        back_populates="article", lazy="raise", order_by="Version.number"
    )


class VersionMeta(Base):
    """A version's metadata, stored once per distinct value: most versions of an article share
    their predecessor's headline, byline, publication date, lead image and extractor, so each
    distinct combination is one row keyed by its content address (``db.meta.meta_id``), as
    paragraphs are. The modification date (``updated``) stays on the version row: a site
    moves it with nearly every edit. Rows are never updated; housekeeping deletes those no
    version uses."""

    __tablename__ = "version_meta"

    id: Mapped[int] = mapped_column(ContentKey, primary_key=True, autoincrement=False)
    title: Mapped[str | None] = mapped_column(Text)
    byline: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))  # ISO 8601 as the page gave it
    language: Mapped[str | None] = mapped_column(String(20))
    canonical_url: Mapped[str | None] = mapped_column(Text)
    lead_image: Mapped[str | None] = mapped_column(Text)  # URL of the lead photo
    lead_caption: Mapped[str | None] = mapped_column(Text)
    extractor: Mapped[str] = mapped_column(String(200))


# The versions table itself. Write to it (and to version_meta) with Core statements on these
# tables: ``Version`` is mapped over the join of both, which an ORM insert or delete cannot do.
versions_table = Table(
    "versions", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("fetched_at", CompactUTCDateTime, nullable=False),
    Column("content_hash", ContentHash, nullable=False),
    # The content address of its metadata row. No foreign key, as for the paragraph ids of
    # paragraph_refs: the row is shared and content-addressed (and SQLite can add a NOT NULL
    # column in place only without one).
    Column("meta_id", BigInteger, nullable=False),
    # The page's modification date (ISO 8601 as given): new with nearly every version.
    Column("updated", String(40)),
    # True when this version starts a new baseline (extractor or selector changed): it is not
    # reported as a change of the version before it.
    Column("rebaseline", Boolean, nullable=False, default=False),
    Column("paragraph_count", Integer, nullable=False),
    Column("paragraph_refs", LargeBinary, nullable=False),
    # Which path made the text: full (the extractor's rules), template (the host's learned
    # template alone) or verified (both, agreeing); None before templates were learned.
    Column("extraction_path", String(16)),
    UniqueConstraint("article_id", "number"),
    # The recent-changes stream and the feeds, newest first, paged by keyset.
    Index("ix_versions_fetched_at_id", "fetched_at", "id"),
)
version_meta_table = cast(Table, VersionMeta.__table__)

# The names of the metadata columns, in the table's order.
META_COLUMNS = tuple(c.name for c in version_meta_table.c if c.name != "id")


class Version(Base):
    """A version with its metadata: mapped over ``versions JOIN version_meta``, so readers see
    one row (``Version.title`` in a select or on an instance) while the metadata is stored
    once per distinct value. Read-only through the ORM: ``db.queries.insert_version`` and
    ``store_version`` write both tables."""

    __table__ = versions_table.join(
        version_meta_table, versions_table.c.meta_id == version_meta_table.c.id
    )
    __mapper_args__ = {"primary_key": [versions_table.c.id]}  # noqa: RUF012 - read by the mapper

    id: Mapped[int] = column_property(versions_table.c.id)
    meta_id: Mapped[int] = column_property(versions_table.c.meta_id, version_meta_table.c.id)
    article_id: Mapped[int]
    number: Mapped[int]
    fetched_at: Mapped[dt.datetime]
    content_hash: Mapped[str]
    title: Mapped[str | None]
    byline: Mapped[str | None]
    published: Mapped[str | None]
    updated: Mapped[str | None]
    language: Mapped[str | None]
    canonical_url: Mapped[str | None]
    lead_image: Mapped[str | None]
    lead_caption: Mapped[str | None]
    extractor: Mapped[str]
    rebaseline: Mapped[bool]
    paragraph_count: Mapped[int]
    paragraph_refs: Mapped[bytes]
    extraction_path: Mapped[str | None]

    article: Mapped[Article] = relationship(back_populates="versions", lazy="raise")


class Paragraph(Base):
    """A distinct paragraph, stored once: with its ``text``, or (migration 0013_paradelta) as
    an edit of another paragraph stored with its text, ``base_id`` + ``delta`` and no text.
    Read the texts through ``db.edits.resolve``, never from ``text`` alone."""

    __tablename__ = "paragraphs"

    # 63 bits of SHA-256 over kind and full text: the key itself is the content address, so
    # the table needs no second index (see db.refs.paragraph_id).
    id: Mapped[int] = mapped_column(ContentKey, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str | None] = mapped_column(Text)
    # No foreign key, as for the ids of paragraph_refs: housekeeping keeps a base while an
    # edit refers to it (db.queries.prune_paragraphs).
    base_id: Mapped[int | None] = mapped_column(BigInteger)
    delta: Mapped[bytes | None] = mapped_column(LargeBinary)  # db.edits' script


class VersionDiff(Base):
    """A version's diff against its predecessor (number - 1), stored with the version.

    ``data`` is the diff's JSON form (``tracker.diff.Diff.to_json``), compressed, its word runs
    counted in the new version's paragraphs (``db.diffdata``); the summary counts sit beside it
    so that lists of versions read no diff (a list of counts, ``db.diffdata.summary_row``; a
    mapping in rows stored before migration 0012_storage)."""

    __tablename__ = "version_diffs"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    )
    # Below the notification threshold when it was stored: kept, not notified.
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[list[int] | dict[str, int]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Body(Base):
    __tablename__ = "bodies"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(120))
    encoding: Mapped[str] = mapped_column(String(16))  # compression, e.g. "zlib"
    size: Mapped[int] = mapped_column(Integer)  # uncompressed bytes
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # The response as received, for WARC export; None for bodies stored before they were kept.
    url: Mapped[str | None] = mapped_column(Text)  # after redirects
    status: Mapped[int | None] = mapped_column(Integer)
    # [[name, value], …] in the order received, bounded (db.queries.MAX_HEADERS …).
    headers: Mapped[list[list[str]] | None] = mapped_column(JSON)


class ArchiveCapture(Base):
    """A web archive's copy of a version (``archive_versions``): asked for after the version
    was stored, retried on failure; ``capture_url`` is where the archive keeps it."""

    __tablename__ = "archive_captures"
    __table_args__ = (
        Index("ix_archive_captures_state_next_attempt_at", "state", "next_attempt_at"),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)  # the page the archive is asked to capture
    state: Mapped[str] = mapped_column(String(16))  # pending | captured | failed (gave up)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    capture_url: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


_UNDISPATCHED = "dispatched_at IS NULL"
_SOURCE_EVENT = "source_id IS NOT NULL"
_VERSION_EVENT = "version_id IS NOT NULL"


class Check(Base):
    __tablename__ = "checks"
    __table_args__ = (
        Index("ix_checks_article_id_started_at", "article_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    # Indexed: tracker status reads the checks of the last minutes (throughput, lag).
    started_at: Mapped[dt.datetime] = mapped_column(CompactUTCDateTime, index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # How late the check started after the article fell due (0: not late; None: not known).
    lag_ms: Mapped[int | None] = mapped_column(Integer)
    # A db.states.CheckOutcome (the list, one place: db/states.py; docs/states.md).
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # The version this check stored, if any: a check that stored one is kept with it
    # (db.queries.prune_checks). No foreign key and no index (migration 0014_pgbytes): no
    # query looks checks up by it, and a version is deleted only with its article, after the
    # article's checks (db.queries.delete_article); the key's ON DELETE SET NULL was all that
    # needed the index, an entry for every check that stored a version. (0007_diffstore read
    # the minor flags from here once.)
    version_id: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("article_id", "seq"),
        # A source's events in order, and an event of each type per stored version (a re-run
        # stores none twice). Unique indexes over the rows that have the column (migration
        # 0014_pgbytes): an article's events have no source, and most of them no version
        # in service; each was an entry of NULLs in a unique index of every event before.
        Index("uq_events_source_id_seq", "source_id", "seq", unique=True,
              sqlite_where=text(_SOURCE_EVENT), info={POSTGRESQL_WHERE: _SOURCE_EVENT}),
        Index("uq_events_version_id_type", "version_id", "type", unique=True,
              sqlite_where=text(_VERSION_EVENT), info={POSTGRESQL_WHERE: _VERSION_EVENT}),
        # Only the events not dispatched yet, which is all the dispatcher asks for
        # (migration 0012_storage; an entry per event, its timestamp included, before). No
        # index on created_at: no query looks events up by it.
        Index("ix_events_dispatched_at", "dispatched_at", sqlite_where=text(_UNDISPATCHED),
              info={POSTGRESQL_WHERE: _UNDISPATCHED}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Public, stable identifier (webhook-id): "evt_" + hex.
    uid: Mapped[str] = mapped_column(EventUid, unique=True)
    # An article's event (article.*) or a source's (source.*): exactly one of the two is set.
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # per-article (or per-source) order, 1, 2, 3 …
    type: Mapped[str] = mapped_column(String(40))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(CompactUTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(EventData, default=dict)
    # Set once the event has been turned into deliveries (one per matching endpoint).
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Endpoint(Base):
    """A subscriber: a webhook URL with its signing secrets, or (``kind`` "channel") a chat,
    push or e-mail channel whose Apprise URL is sealed in ``secret`` and shown masked in
    ``url``; what it wants to hear about."""

    __tablename__ = "endpoints"
    __table_args__ = (Index("ix_endpoints_name", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)  # event types, or ["*"]
    article_url: Mapped[str | None] = mapped_column(Text)  # filters: any that is set must match
    host: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(100))
    secret: Mapped[str] = mapped_column(Text)  # sealed (tracker.webhooks.secrets)
    previous_secret: Mapped[str | None] = mapped_column(Text)  # still signs until …
    previous_secret_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # active | paused (a channel muted by its owner) | disabled (by failures)
    state: Mapped[str] = mapped_column(String(16), default="active")
    kind: Mapped[str] = mapped_column(String(16), default="webhook", server_default="webhook")
    name: Mapped[str | None] = mapped_column(String(100))  # a channel's name
    # More filters, each a list any of whose values may match: tags, hosts, articles
    filters: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    min_words: Mapped[int | None] = mapped_column(Integer)  # changes of fewer words: not sent
    digest_seconds: Mapped[int | None] = mapped_column(Integer)  # one message per period
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Delivery(Leased, Base):
    """One event for one endpoint: delivered at least once, retried on a schedule, in order
    per endpoint and article or source (``seq`` is the event's sequence in either)."""

    __tablename__ = "deliveries"
    due_column = "next_attempt_at"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_deliveries_endpoint_id_article_id_seq", "endpoint_id", "article_id", "seq"),
        Index("ix_deliveries_endpoint_id_source_id_seq", "endpoint_id", "source_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    # The event's article or source (one is set), its chain: in order per endpoint and either
    article_id: Mapped[int | None] = mapped_column(Integer)
    source_id: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    # A db.states.DeliveryState: pending (waiting for its next attempt) | delivered | failed
    # (gave up) | cancelled (its endpoint was disabled) | digested (rides with a carrier)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A digest's member: sent with (and as) the carrier delivery of its period
    digest_of: Mapped[int | None] = mapped_column(Integer, index=True)


class DeliveryAttempt(Base):
    """Every try, kept: when, what came back, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)  # the first 2 KB of the body
    error: Mapped[str | None] = mapped_column(Text)


class Heartbeat(Base):
    """When a background component last did its work (the beat tick, a worker), for status."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ArticleAlias(Base):
    """Another URL of a tracked story; adding or discovering it finds the story."""

    __tablename__ = "article_aliases"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(16))  # given | canonical | amphtml | merged
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Host(Base):
    """Rules for one site, applied to every article on it (an article's own selector wins)."""

    __tablename__ = "hosts"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    selector: Mapped[str | None] = mapped_column(Text)
    # Paragraphs matching one of these regular expressions are not article text.
    ignore_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Elements matching one of these CSS selectors are removed before extraction.
    ignore_selectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    rate_per_minute: Mapped[float | None] = mapped_column(Float)  # None: the global setting
    notify_threshold: Mapped[int | None] = mapped_column(Integer)  # None: the global setting
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HostTemplate(Base):
    """The article template learned for one site (tracker.extract.template), and its record."""

    __tablename__ = "host_templates"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    template: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: none learned now
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)  # confirmed on a second page
    learned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pages: Mapped[int] = mapped_column(Integer, default=0)  # extracted by the template alone
    verified: Mapped[int] = mapped_column(Integer, default=0)  # checks that agreed
    failed: Mapped[int] = mapped_column(Integer, default=0)  # checks that disagreed
    last_failure: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Source(Leased, Base):
    """A feed (RSS/Atom) or sitemap (news sitemap, sitemap index) polled for new articles."""

    __tablename__ = "sources"
    due_column = "next_check_at"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    host: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str | None] = mapped_column(String(16))  # feed | sitemap, known after a poll
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | paused
    match: Mapped[str | None] = mapped_column(Text)  # regular expression over entry URLs
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)  # any, in title/summary
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)  # given to its articles
    interval: Mapped[int] = mapped_column(Integer)  # seconds between polls
    article_interval: Mapped[int | None] = mapped_column(Integer)  # for discovered articles
    next_check_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_digest: Mapped[str | None] = mapped_column(String(64))
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)  # listed in the last poll
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SourceEntry(Base):
    """An entry a source has listed; ``listed`` is whether its latest poll still did."""

    __tablename__ = "source_entries"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def for_postgresql() -> None:
    """Give the partial indexes their condition on PostgreSQL (``POSTGRESQL_WHERE`` in their
    ``info``). Named in the model, ``postgresql_where`` makes SQLAlchemy load its PostgreSQL
    dialect and every driver module of it to validate the option, at each start of every
    command on SQLite too (about 20 ms of `tracker check`'s serial start-up). A PostgreSQL
    engine (``db.session.make_engine``, which the migrations use too) calls this first;
    calling it again changes nothing."""
    for table in Base.metadata.tables.values():
        for index in table.indexes:
            where = index.info.get(POSTGRESQL_WHERE)
            if where is not None and index.dialect_options["postgresql"]["where"] is None:
                index.dialect_options["postgresql"]["where"] = text(where)
