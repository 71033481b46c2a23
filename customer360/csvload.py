"""Reads a delivery file once: its bytes are checked, its header compared with the contract, and its rows parsed as RFC 4180 CSV into Arrow batches.

One read serves every check and the load: the file is opened once, and the bytes that are checked are the
bytes pyarrow parses and DuckDB inserts. A file changed in place while it is read fails with "changed while
being read"; a file replaced by another (renamed over) keeps loading the one that was opened.

What is checked on the bytes, as the BigQuery load would refuse it or as it would load values into the
wrong columns:
- UTF-8 (pyarrow checks every value; the first bad byte is then located for the message), no NUL byte;
- line ends LF or CRLF; a carriage return outside a quoted value that is not part of CRLF is refused;
- quotes: a quoted value starts right after a comma or a line end and its closing quote is followed by a
  comma or a line end; a quote inside a value that is not quoted is refused (`2 "q"`, `, "x"`, `\\"`), since
  parsers disagree about such rows;
- every record has exactly the contract's number of fields (pyarrow; trailing empty extra fields count).

When anything fails, the file is read again by Python's csv module (strict mode) only to say where: the
line and the cause, in one line.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

UTF8_BOM = b"\xef\xbb\xbf"
# The longest value accepted; the header must also fit in one block.
MAX_VALUE_BYTES = 16 * 1024 * 1024
BLOCK_BYTES = 16 * 1024 * 1024
QUOTE, COMMA, LF, CR = 0x22, 0x2C, 0x0A, 0x0D
UNQUOTED_QUOTE = "a quote inside a value that is not quoted (quote the whole value and double any quote in it)"
TEXT_AFTER_CLOSING_QUOTE = "text after a closing quote (a quote inside a quoted value is doubled)"


class CsvError(Exception):
    """The file cannot be read as the contract says; str() is one line: cause, with the line where known."""


class ChangedWhileReading(CsvError):
    pass


@dataclass(frozen=True)
class ReadStats:
    rows: int
    bytes_read: int
    sha256: str
    size: int  # of the file that was opened and read (the path may lead to another file by now)
    mtime_ns: int


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# The header
# ---------------------------------------------------------------------------


def header_problem(first_line: bytes, source_name: str, expected: tuple[str, ...]) -> str | None:
    """Why FIRST_LINE (with its line end, BOM allowed) is not the contract's header, or None when it is."""
    if not first_line.removeprefix(UTF8_BOM).strip():
        return f"empty file, expected the header row of {source_name}"
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return f"header is not UTF-8 ({error.reason} at byte {error.start})"
    if "\r" in text.rstrip("\r\n"):
        return "lines end with a bare carriage return; use LF or CRLF line ends"
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration):
        return "header row is not valid CSV"
    if header == list(expected):
        return None
    if len(header) == 1 and len(expected) > 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                return f"header uses {delimiter!r} as delimiter; files must be comma-separated"
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        detail = "; ".join(
            part
            for part in (f"missing {', '.join(missing)}" if missing else "", f"unexpected {', '.join(extra)}" if extra else "")
            if part
        )
    else:
        position = next(i for i, (a, b) in enumerate(zip(header, expected)) if a != b)
        detail = f"columns out of order: column {position + 1} is {header[position]!r}, expected {expected[position]!r}"
    return f"header does not match the {source_name} contract ({detail})"


# ---------------------------------------------------------------------------
# Byte checks, block by block, carrying the quote state across blocks
# ---------------------------------------------------------------------------


class _ByteChecker:
    """Checks NUL bytes, bare carriage returns and quote placement over consecutive blocks of one file.

    Blocks never end with a quote or a carriage return (see `_raw_blocks`), so a run of quotes and a CRLF
    always lie within one block. Quotes are taken in runs of consecutive quote characters: a run of odd
    length flips the state (an opening quote, or a closing one after escaped pairs), a run of even length
    keeps it (escaped pairs, or an empty quoted value).
    """

    def __init__(self, first_line_number: int) -> None:
        self.inside = False  # is the next byte inside a quoted value
        self.previous_byte = LF  # the data starts right after the header's line end
        self.line = first_line_number  # line number of the first byte of the next block
        self.last_open_line = 0

    def _line_at(self, block: np.ndarray, position: int) -> int:
        return self.line + int(np.count_nonzero(block[:position] == LF))

    def fail(self, block: np.ndarray, position: int, cause: str) -> CsvError:
        return CsvError(f"malformed CSV: line {self._line_at(block, position)}: {cause}")

    def check(self, data: bytes, final: bool) -> None:
        block = np.frombuffer(data, dtype=np.uint8)
        size = len(block)
        nul = data.find(b"\x00")
        if nul >= 0:
            raise CsvError(f"line {self._line_at(block, nul)} contains a NUL byte (ASCII 0)")
        quotes = np.flatnonzero(block == QUOTE)
        run_ends = np.empty(0, dtype=np.int64)
        run_inside_after = np.empty(0, dtype=bool)
        inside_after = self.inside
        if len(quotes):
            breaks = np.flatnonzero(np.diff(quotes) != 1) + 1
            starts = quotes[np.concatenate(([0], breaks))]
            ends = quotes[np.concatenate((breaks - 1, [len(quotes) - 1]))]
            odd = ((ends - starts + 1) % 2).astype(bool)
            # The state before each run: the block's starting state, flipped by every odd run before it.
            flips_before = np.concatenate(([0], np.cumsum(odd)[:-1]))
            inside_before = (flips_before % 2).astype(bool) ^ self.inside
            run_inside_after = inside_before ^ odd
            previous = np.where(starts > 0, block[np.maximum(starts - 1, 0)], self.previous_byte)
            # A run that starts outside a quoted value must begin the value.
            bad_open = ~inside_before & ~np.isin(previous, (COMMA, LF))
            # A run that leaves the value closed must be followed by a comma, a line end or the end of the file.
            following = block[np.minimum(ends + 1, size - 1)]
            bad_close = ~run_inside_after & (ends + 1 < size) & ~np.isin(following, (COMMA, LF, CR))
            first_open = int(starts[np.argmax(bad_open)]) if bad_open.any() else size
            first_close = int(ends[np.argmax(bad_close)]) if bad_close.any() else size
            if first_open < first_close:
                raise self.fail(block, first_open, UNQUOTED_QUOTE)
            if first_close < size:
                raise self.fail(block, first_close, TEXT_AFTER_CLOSING_QUOTE)
            inside_after = bool(run_inside_after[-1])
            run_ends = ends
            opens = run_inside_after & ~inside_before
            if opens.any():
                self.last_open_line = self._line_at(block, int(starts[np.flatnonzero(opens)[-1]]))
        carriage_returns = np.flatnonzero(block == CR)
        if len(carriage_returns):
            followed_by_lf = np.zeros(len(carriage_returns), dtype=bool)
            inner = carriage_returns + 1 < size
            followed_by_lf[inner] = block[carriage_returns[inner] + 1] == LF
            # Inside or outside a quoted value: the state after the last quote run before the CR.
            run_index = np.searchsorted(run_ends, carriage_returns) - 1
            cr_inside = np.full(len(carriage_returns), self.inside)
            if len(run_ends):
                cr_inside = np.where(run_index >= 0, run_inside_after[np.maximum(run_index, 0)], self.inside)
            bare = ~followed_by_lf & ~cr_inside
            if bare.any():
                raise self.fail(block, int(carriage_returns[np.argmax(bare)]),
                                "a line break (CR or LF) inside a value that is not quoted")
        self.inside = inside_after
        if size:
            self.previous_byte = int(block[-1])
            self.line += data.count(b"\n")
        if final and self.inside:
            raise CsvError(f"malformed CSV: line {self.last_open_line}: unterminated quoted value")


# ---------------------------------------------------------------------------
# The one read
# ---------------------------------------------------------------------------


class _CheckedStream(io.RawIOBase):
    """The file's data rows as a stream for pyarrow: each block is checked before pyarrow sees it."""

    def __init__(self, header: bytes, first_block_rest: bytes, blocks: Iterator[bytes], checker: _ByteChecker) -> None:
        super().__init__()
        # pyarrow gets the header line too and skips it: it strips a byte-order mark only at the start of
        # its stream, which must be the file's start, or the first data row would lose one of its own.
        self._first_rest = first_block_rest
        self._pending = memoryview(header + first_block_rest)
        self._blocks = blocks
        self._checker = checker
        self._exhausted = False
        self.error: CsvError | None = None
        self._checked_first = False

    def readable(self) -> bool:
        return True

    def _next_block(self) -> bytes:
        try:
            block = next(self._blocks)
        except StopIteration:
            self._exhausted = True
            block = b""
        self._checker.check(block, final=self._exhausted)
        return block

    def readinto(self, buffer) -> int:
        try:
            if not self._checked_first:
                self._checked_first = True
                self._checker.check(self._first_rest, final=False)
                self._first_rest = b""
            while not self._pending and not self._exhausted:
                self._pending = memoryview(self._next_block())
        except CsvError as error:
            self.error = error
            raise
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]  # a memoryview: no copy
        return size


class DeliveryFileReader:
    """One delivery file, opened once; `batches()` streams its data rows, `finish()` confirms the read."""

    def __init__(self, path: Path, source_name: str, columns: tuple[str, ...]) -> None:
        self.path = path
        self.where = display(path)
        self.source_name = source_name
        self.columns = columns
        self.compressed = path.name.lower().endswith(".gz")
        try:
            # Non-blocking, so that a FIFO put in the file's place after the folder was listed cannot hang the run.
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            raise CsvError(f"cannot read: {error.strerror}") from None
        self._stat = os.fstat(descriptor)
        if not stat.S_ISREG(self._stat.st_mode):
            os.close(descriptor)
            raise CsvError("not a regular file any more (a FIFO, socket or device); deliver the file itself")
        os.set_blocking(descriptor, True)
        self._file = os.fdopen(descriptor, "rb")  # noqa: SIM115 - closed in finish()/close()
        self._digest = hashlib.sha256()
        self._bytes = 0
        self._stream: _CheckedStream | None = None

    def close(self) -> None:
        self._file.close()

    def _raw_blocks(self) -> Iterator[bytes]:
        source = self._file
        if self.compressed:
            source = gzip.GzipFile(fileobj=self._file, mode="rb")

        def read(size: int) -> bytes:
            try:
                data = source.read(size)
            except (OSError, EOFError, zlib.error) as error:
                if self.compressed:
                    raise CsvError(f"not a readable gzip file ({error})") from None
                raise CsvError(f"cannot read: {error}") from None
            self._digest.update(data)
            self._bytes += len(data)
            return data

        while True:
            block = read(BLOCK_BYTES)
            if not block:
                return
            # A block never ends with a quote or a CR, so quote runs and CRLF pairs stay in one block.
            while block[-1] in (QUOTE, CR):
                more = read(64 * 1024)
                if not more:
                    break
                block += more
            yield block

    def batches(self) -> pa.RecordBatchReader:
        """The data rows (after the header) as Arrow batches of strings; empty values are NULL."""
        blocks = self._raw_blocks()
        first = b""
        while b"\n" not in first:
            block = next(blocks, b"")
            if not block:
                break
            first += block
            if len(first) > MAX_VALUE_BYTES and b"\n" not in first:
                raise CsvError("the first line is longer than 16 MiB; is this a CSV file?")
        header_end = first.find(b"\n") + 1 if b"\n" in first else len(first)
        problem = header_problem(first[:header_end], self.source_name, self.columns)
        if problem:
            raise CsvError(problem)
        # Line 2 is the first data line (the header of a contract never spans lines).
        checker = _ByteChecker(first_line_number=2)
        self._stream = _CheckedStream(first[:header_end], first[header_end:], blocks, checker)
        try:
            return self._open_csv()
        except pa.ArrowInvalid as error:
            if "Empty CSV file" not in str(error) or self._stream.error:
                raise
            schema = pa.schema([(c, pa.string()) for c in self.columns])
            return pa.RecordBatchReader.from_batches(schema, [])

    def _open_csv(self) -> pa.RecordBatchReader:
        return pacsv.open_csv(
            io.BufferedReader(self._stream, buffer_size=BLOCK_BYTES),
            read_options=pacsv.ReadOptions(column_names=list(self.columns), skip_rows=1, block_size=BLOCK_BYTES,
                                           use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in self.columns},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
                check_utf8=True,
            ),
        )

    def stream_error(self) -> CsvError | None:
        return self._stream.error if self._stream else None

    def finish(self, rows: int) -> ReadStats:
        """Confirms the file was read whole and unchanged; closes it."""
        try:
            now = os.fstat(self._file.fileno())
            changed = (now.st_size, now.st_mtime_ns) != (self._stat.st_size, self._stat.st_mtime_ns)
            if not self.compressed and self._bytes != now.st_size:
                changed = True
        finally:
            self._file.close()
        if changed:
            raise ChangedWhileReading("changed while being read (it was written to during the load); deliver it again")
        return ReadStats(rows=rows, bytes_read=self._bytes, sha256=self._digest.hexdigest(),
                         size=self._stat.st_size, mtime_ns=self._stat.st_mtime_ns)


# ---------------------------------------------------------------------------
# Saying where a file is broken (only after the fast read refused it)
# ---------------------------------------------------------------------------


def _decoded_lines(lines: Iterator[bytes]) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix(UTF8_BOM)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CsvError(
                f"line {number} is not UTF-8 (byte 0x{line[error.start]:02X} at position {error.start + 1}); "
                "deliveries must be UTF-8 encoded"
            ) from None
        if "\x00" in text:
            raise CsvError(f"line {number} contains a NUL byte (ASCII 0)")
        yield text


def diagnose(path: Path, columns: tuple[str, ...]) -> str | None:
    """The first problem a strict RFC 4180 reading of the file finds, or None. Slow; for error messages only."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    expected = len(columns)
    if csv.field_size_limit() < MAX_VALUE_BYTES:
        csv.field_size_limit(MAX_VALUE_BYTES)
    try:
        with opener(path, "rb") as handle:
            reader = csv.reader(_decoded_lines(iter(handle)), strict=True)
            next(reader, None)
            while True:
                starts_at = reader.line_num + 1
                try:
                    fields = next(reader, None)
                except csv.Error as error:
                    cause = str(error)
                    if "unexpected end of data" in cause:
                        cause = "unterminated quoted value"
                    elif "field limit" in cause:
                        cause = f"a value is longer than {MAX_VALUE_BYTES // (1024 * 1024)} MiB"
                    elif "expected after" in cause:
                        cause = TEXT_AFTER_CLOSING_QUOTE
                    elif "new-line character seen in unquoted field" in cause:
                        cause = "a line break (CR or LF) inside a value that is not quoted"
                    return f"malformed CSV: line {starts_at}: {cause}"
                if fields is None:
                    return None
                if fields and len(fields) != expected:
                    hint = "a value holding a comma must be quoted" if len(fields) > expected else "the row is cut short"
                    return f"malformed CSV: line {starts_at} has {len(fields)} fields, expected {expected} ({hint})"
    except CsvError as error:
        return str(error)
    except (OSError, EOFError, zlib.error) as error:
        return f"cannot read: {error}"
