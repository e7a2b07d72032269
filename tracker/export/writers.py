"""Writers of the exported rows: JSON Lines, CSV and Parquet, one file per resource.

Each writer takes rows one at a time and writes them out as it goes (Parquet in row groups of
``ROW_GROUP`` rows), so a writer's memory does not depend on how many rows pass through it.
Values are written as they are: the dataset is evidence, so no cell is altered (a CSV opened
in a spreadsheet program should be imported as text, not opened directly).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from tracker.export.schema import Field

ROW_GROUP = 2_000


class RowWriter(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def timestamp(value: dt.datetime) -> str:
    """UTC with microseconds always written, so every time has the same form."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    return timestamp(value) if isinstance(value, dt.datetime) else value


def json_line(row: dict[str, Any], fields: tuple[Field, ...]) -> str:
    values = {f.name: _plain(row[f.name]) for f in fields}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


class JsonLinesWriter:
    def __init__(self, path: Path, fields: tuple[Field, ...]) -> None:
        self.fields = fields
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json_line(row, self.fields) + "\n")

    def close(self) -> None:
        self._file.close()


class CsvWriter:
    """RFC 4180 CSV with a header row; arrays as JSON, null as an empty cell, booleans as
    true/false (the lexical forms of Table Schema)."""

    def __init__(self, path: Path, fields: tuple[Field, ...]) -> None:
        self.fields = fields
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow([f.name for f in fields])

    def write(self, row: dict[str, Any]) -> None:
        self._csv.writerow([_cell(row[f.name]) for f in self.fields])

    def close(self) -> None:
        self._file.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(_plain(value))


class ParquetWriter:
    """Parquet through pyarrow (the ``export`` extra), one row group per ``ROW_GROUP`` rows."""

    def __init__(self, path: Path, fields: tuple[Field, ...]) -> None:
        import pyarrow.parquet as pq

        self.fields = fields
        self.schema = arrow_schema(fields)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []


def arrow_schema(fields: tuple[Field, ...]) -> Any:
    import pyarrow as pa

    scalar = {
        "integer": pa.int64(), "number": pa.float64(), "string": pa.string(),
        "boolean": pa.bool_(), "datetime": pa.timestamp("us", tz="UTC"),
    }
    items = {"string": pa.string(), "integer": pa.int64(), "pair": pa.list_(pa.string())}
    return pa.schema([
        pa.field(f.name, pa.list_(items[f.item or "string"]) if f.type == "array"
                 else scalar[f.type], nullable=not f.required)
        for f in fields
    ])


WRITERS: dict[str, type[JsonLinesWriter] | type[CsvWriter] | type[ParquetWriter]] = {
    "jsonl": JsonLinesWriter, "csv": CsvWriter, "parquet": ParquetWriter,
}


class ResourceWriters:
    """One writer per resource, all closed together."""

    def __init__(self, directory: Path, fmt: str, resources: dict[str, tuple[Field, ...]]) -> None:
        from tracker.export.schema import file_name

        self.writers: dict[str, RowWriter] = {}
        try:
            for name, fields in resources.items():
                self.writers[name] = WRITERS[fmt](directory / file_name(name, fmt), fields)
        except BaseException:
            self.close()
            raise

    def write(self, resource: str, row: dict[str, Any]) -> None:
        self.writers[resource].write(row)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def __enter__(self) -> ResourceWriters:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
