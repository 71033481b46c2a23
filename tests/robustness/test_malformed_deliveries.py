"""A corpus of malformed deliveries, written as real bytes: each ends in a one-line fatal error or in a run
where every raw row is kept in silver or in ops.rejected_rows with the right reason.

Each case states what a data engineer would expect and why (its `decision`). Three outcomes exist:
- fatal: `engine.InputError`, one line naming the file and the cause; an existing warehouse is unchanged
  and a new one is not created. Used when the file cannot be read as the contract says (a header that
  does not match, broken CSV, bytes the BigQuery load refuses too), because loading part of it, or
  loading it by position, would put values into the wrong columns or lose rows silently.
- accepted: the run succeeds; every data row written is in the day's raw partition, and each one is
  either rejected with the declared reason or kept under its key in silver (duplicates collapsed by
  de-duplication count as kept). Used for bad *values*: the row is evidence and is never dropped.
- blocked: a blocking data-quality check fails the run (`engine.PipelineError`), nothing is written.

`python tests/robustness/corpus_report.py` runs the corpus and prints the totals.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import io
import os
import re
import shutil
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from customer360 import contract, engine
from pipeline_harness import (
    DAY1,
    DAY2,
    Pipeline,
    account,
    csv_bytes,
    customer,
    member,
    order_line,
    sale_line,
    snapshot,
    ticket,
)

HEADERS = {s.name: list(s.column_names) for s in contract.SOURCES}


def header_line(source: str, separator: str = ",") -> bytes:
    return separator.join(HEADERS[source]).encode()


@dataclass(frozen=True)
class Link:
    """A symbolic link in the delivery folder, to TARGET (relative to the link's folder)."""

    target: str


@dataclass(frozen=True)
class Fifo:
    """A named pipe (FIFO) in the delivery folder: opening it for reading would wait for a writer forever."""


FIFO = Fifo()


@dataclass(frozen=True)
class Delivery:
    files: dict[str, bytes | Link | Fifo]  # path inside the delivery folder -> exact bytes (or a link, a FIFO)
    day: dt.date = DAY1


@dataclass(frozen=True)
class Case:
    id: str
    decision: str  # what a data engineer expects, and why
    deliveries: tuple[Delivery, ...]
    fatal: str | None = None  # regex the InputError message must match
    fatal_file: str | None = None  # the file the message must name
    blocked: str | None = None  # regex of the PipelineError of a blocking check
    kept: dict[str, int] = field(default_factory=dict)  # source -> rows kept, over all deliveries
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> reason -> rows
    silver: dict[str, int] = field(default_factory=dict)  # silver table -> rows after the case
    check: Callable[[Pipeline], None] | None = None  # values that must survive exactly
    ignored: tuple[str, ...] = ()  # markers the run must list as ignored (paths inside the delivery folder)

    @property
    def outcome(self) -> str:
        return "fatal" if self.fatal else "blocked" if self.blocked else "accepted"


def one(files: dict[str, bytes], day: dt.date = DAY1) -> tuple[Delivery, ...]:
    return (Delivery(files, day),)


def expect(pipeline: Pipeline, sql: str, expected: list) -> bool:
    """Asserts SQL returns EXPECTED (a list of values for one column, else of tuples), naming both."""
    found = [row[0] if len(row) == 1 else row for row in pipeline.query(sql)]
    assert found == expected, f"{sql}\n  returned {found!r}\n  expected {expected!r}"
    return True


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------

CASES: list[Case] = []


def case(**kwargs) -> None:
    CASES.append(Case(**kwargs))


# --- Encoding, line ends and file shape ------------------------------------

case(
    id="utf8-bom",
    decision="Excel writes a UTF-8 byte-order mark; it is not part of the first column name or value.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1"), customer("C2")], bom=True)}),
    kept={"customers": 2},
    check=lambda p: (
        expect(p, "SELECT customer_id FROM silver.customers ORDER BY 1", ["C1", "C2"])
    ),
)
case(
    id="crlf-line-ends",
    decision="Windows line ends are RFC 4180's own; the CR must not end up in the last column.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [order_line("O1"), order_line("O2")],
                                                   line_end="\r\n")}),
    kept={"online_orders": 2},
    check=lambda p: (
        expect(p, "SELECT count(*) FROM raw.online_orders WHERE order_status LIKE '%' || chr(13) || '%'", [0])
    ),
)
case(
    id="mixed-line-ends",
    decision="A file edited on two systems mixes LF and CRLF; each line is still one record.",
    deliveries=one({"customers.csv": header_line("customers") + b"\r\n"
                    + b"C1,Ann,Lee,,,,,,,,2026-01-01\n"
                    + b"C2,Bo,Li,,,,,,,,2026-01-01\r\n"
                    + b"C3,Cy,Ng,,,,,,,,2026-01-01\n"}),
    kept={"customers": 3},
    check=lambda p: (
        expect(p, "SELECT count(*) FROM raw.customers WHERE updated_at LIKE '%' || chr(13) || '%'", [0])
    ),
)
case(
    id="bare-cr-line-ends",
    decision="Classic-Mac CR-only line ends make the whole file one line: refused, naming the cause.",
    deliveries=one({"stores.csv": header_line("stores") + b"\rS1,Main,Austin,TX,South,2020-01-01\r"}),
    fatal=r"bare carriage return",
    fatal_file="stores.csv",
)
case(
    id="semicolon-delimiter",
    decision="A European-locale export uses ';': loading it would give one column; refused.",
    deliveries=one({"stores.csv": header_line("stores", ";") + b"\nS1;Main;Austin;TX;South;2020-01-01\n"}),
    fatal=r"';' as delimiter",
    fatal_file="stores.csv",
)
case(
    id="tab-delimiter",
    decision="A TSV named .csv is refused rather than loaded as one column.",
    deliveries=one({"products.csv": header_line("products", "\t") + b"\nP1\tMug\tKitchen\tAcme\t4.50\t2026-01-01\n"}),
    fatal=r"'\\t' as delimiter",
    fatal_file="products.csv",
)
case(
    id="empty-file",
    decision="A zero-byte file is a failed export, not a day without members: refused.",
    deliveries=one({"loyalty_members.csv": b""}),
    fatal=r"empty file",
    fatal_file="loyalty_members.csv",
)
case(
    id="bom-only-file",
    decision="A file holding only a byte-order mark is empty too, and is reported as such.",
    deliveries=one({"loyalty_members.csv": b"\xef\xbb\xbf"}),
    fatal=r"empty file",
    fatal_file="loyalty_members.csv",
)
case(
    id="header-only",
    decision="A header with no rows is a valid day without changes (a system with nothing to export).",
    deliveries=one({"support_agents.csv": header_line("support_agents") + b"\n",
                    "customers.csv": header_line("customers") + b"\n\n\n"}),
    silver={"support_agents": 0, "customers": 0},
)
case(
    id="blank-lines",
    decision="Blank lines between records carry no data; the records around them all load.",
    deliveries=one({"customers.csv": header_line("customers") + b"\n\nC1,Ann,Lee,,,,,,,,\n\n\nC2,Bo,Li,,,,,,,,\n\n"}),
    kept={"customers": 2},
)
case(
    id="whitespace-only-line",
    decision="A line of spaces is a one-field record, not a blank line: the row is cut short, refused.",
    deliveries=one({"customers.csv": header_line("customers") + b"\nC1,Ann,Lee,,,,,,,,\n   \n"}),
    fatal=r"line 3 has 1 fields, expected 11",
    fatal_file="customers.csv",
)
case(
    id="no-final-newline",
    decision="The last record without a line end is still a record.",
    deliveries=one({"products.csv": header_line("products") + b"\nP1,Mug,Kitchen,Acme,4.50,2026-01-01\nP2,Cup,Kitchen,Acme,3,2026-01-01"}),
    kept={"products": 2},
)
case(
    id="not-a-csv-extension",
    decision="Only <source>.csv files are deliveries; a .txt export is refused, not ignored.",
    deliveries=one({"customers.txt": csv_bytes("customers", [customer("C1")])}),
    fatal=r"not a CSV file",
    fatal_file="customers.txt",
)
case(
    id="source-as-file-and-folder",
    decision="<source>.csv and <source>/*.csv together are all parts of one source's delivery: all load.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1"), customer("C2")]),
                    "customers/part-2.csv": csv_bytes("customers", [customer("C3"), customer("C4")])}),
    kept={"customers": 4},
    silver={"customers": 4},
)

# --- What a delivery folder holds: the files the cloud transfer would load, nothing left out ----------

case(
    id="sub-folder-inside-a-source-folder",
    decision="The transfer loads <source>/<day>/*.csv* and does not descend: rows under online_orders/late/ "
             "would be loaded by neither engine, so the folder is refused, naming it.",
    deliveries=one({"online_orders/part-1.csv": csv_bytes("online_orders", [order_line("O1")]),
                    "online_orders/late/part-2.csv": csv_bytes("online_orders", [order_line("O2")])}),
    fatal=r"a folder inside the online_orders folder",
    fatal_file="online_orders/late",
)
case(
    id="hidden-part-file",
    decision="The transfer's wildcard matches customers/.part-0.csv, so it is data: every row of it loads.",
    deliveries=one({"customers/.part-0.csv": csv_bytes("customers", [customer("C1"), customer("C2")]),
                    "customers/part-1.csv": csv_bytes("customers", [customer("C3")])}),
    kept={"customers": 3},
    silver={"customers": 3},
)
case(
    id="glob-characters-in-file-names",
    decision="A name is data, never a pattern: part[1].csv, *.csv and a?.csv each load once, and so do the "
             "neighbours those patterns would match (part1.csv, ab.csv).",
    deliveries=one({"customers/part[1].csv": csv_bytes("customers", [customer("C1")]),
                    "customers/part1.csv": csv_bytes("customers", [customer("C2")]),
                    "customers/*.csv": csv_bytes("customers", [customer("C3")]),
                    "customers/a?.csv": csv_bytes("customers", [customer("C4")]),
                    "customers/ab.csv": csv_bytes("customers", [customer("C5")]),
                    "stores/[!a]*.csv": csv_bytes("stores", [{"store_id": "S1"}])}),
    kept={"customers": 5, "stores": 1},
    check=lambda p: (
        expect(p, "SELECT customer_id, count(*) FROM raw.customers GROUP BY 1 ORDER BY 1",
               [("C1", 1), ("C2", 1), ("C3", 1), ("C4", 1), ("C5", 1)])
    ),
)
case(
    id="dangling-link",
    decision="A link to a file that is not there is a delivery that did not arrive: refused, naming the link.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1")]),
                    "stores.csv": Link("exports/stores.csv")}),
    fatal=r"a link to 'exports/stores.csv', which does not exist",
    fatal_file="stores.csv",
)
case(
    id="dangling-link-in-a-source-folder",
    decision="The same inside a source folder: the part it stands for would be missing from the day.",
    deliveries=one({"stores/part-1.csv": csv_bytes("stores", [{"store_id": "S1"}]),
                    "stores/part-2.csv": Link("../gone/part-2.csv")}),
    fatal=r"a link to '../gone/part-2.csv', which does not exist",
    fatal_file="stores/part-2.csv",
)
case(
    id="fifo-in-place-of-a-file",
    decision="A named pipe is not a file; reading it would wait forever for a writer: refused at once.",
    deliveries=one({"products.csv": FIFO}),
    fatal=r"not a regular file \(a FIFO, socket or device\)",
    fatal_file="products.csv",
)
case(
    id="fifo-in-a-source-folder",
    decision="The same inside a source folder, beside a good part.",
    deliveries=one({"products/part-1.csv": csv_bytes("products", [{"product_id": "P1"}]),
                    "products/part-2.csv": FIFO}),
    fatal=r"not a regular file",
    fatal_file="products/part-2.csv",
)
case(
    id="unknown-file-in-a-source-folder",
    decision="A README beside the parts is no data of the transfer's pattern; refused rather than skipped "
             "without a word, saying what a source folder holds.",
    deliveries=one({"customers/part-1.csv": csv_bytes("customers", [customer("C1")]),
                    "customers/notes.txt": b"exported by the CRM\n"}),
    fatal=r"not a CSV file; a source folder holds only \*\.csv or \*\.csv\.gz files",
    fatal_file="customers/notes.txt",
)
case(
    id="backup-copy-beside-a-part-file",
    decision="part-1.csv.bak matches the transfer's *.csv* and BigQuery would load it as CSV; locally it is "
             "no data file, so neither engine may load it: refused, saying to rename or remove it.",
    deliveries=one({"customers/part-1.csv": csv_bytes("customers", [customer("C1")]),
                    "customers/part-1.csv.bak": csv_bytes("customers", [customer("C1", first_name="Old")])}),
    fatal=r"the cloud transfer would load this file as CSV",
    fatal_file="customers/part-1.csv.bak",
)
case(
    id="backup-copy-of-a-source-file",
    decision="stores.csv.bak beside stores.csv is not a source file: refused, not ignored.",
    deliveries=one({"stores.csv": csv_bytes("stores", [{"store_id": "S1"}]),
                    "stores.csv.bak": csv_bytes("stores", [{"store_id": "S0"}])}),
    fatal=r"not a CSV file",
    fatal_file="stores.csv.bak",
)
case(
    id="upper-case-extension-in-a-source-folder",
    decision="Cloud Storage names are case-sensitive and the transfer would skip X.CSV: refused, saying so.",
    deliveries=one({"customers/X.CSV": csv_bytes("customers", [customer("C1")])}),
    fatal=r"case-sensitively and would skip this file",
    fatal_file="customers/X.CSV",
)
case(
    id="upper-case-extension-of-a-source-file",
    decision="STORES.CSV is the same mistake at the top of the delivery, and gets the same answer.",
    deliveries=one({"STORES.CSV": csv_bytes("stores", [{"store_id": "S1"}])}),
    fatal=r"case-sensitively and would skip this file",
    fatal_file="STORES.CSV",
)
case(
    id="markers-are-listed-as-ignored",
    decision="_SUCCESS and .DS_Store are what export tools and Finder leave beside data: never loaded, "
             "listed as ignored, and the data around them all loads.",
    deliveries=one({"_SUCCESS": b"", ".DS_Store": b"\x00\x00\x00\x01Bud1",
                    "customers/_SUCCESS": b"", "customers/.DS_Store": b"\x00\x00\x00\x01Bud1",
                    "customers/part-1.csv": csv_bytes("customers", [customer("C1")]),
                    "stores.csv": csv_bytes("stores", [{"store_id": "S1"}])}),
    kept={"customers": 1, "stores": 1},
    ignored=(".DS_Store", "_SUCCESS", "customers/.DS_Store", "customers/_SUCCESS"),
)

# --- Headers ---------------------------------------------------------------

_swapped = HEADERS["store_sales"].copy()
_swapped[6], _swapped[7] = _swapped[7], _swapped[6]
case(
    id="header-reordered",
    decision="quantity and unit_price swapped: loading by position would price every unit as its quantity.",
    deliveries=one({"store_sales.csv": csv_bytes("store_sales", [["T1", "1", "S1", "", "2026-01-05", "P1", "9.99", "2", "", "card"]],
                                                 header=_swapped)}),
    fatal=r"columns out of order: column 7 is 'unit_price', expected 'quantity'",
    fatal_file="store_sales.csv",
)
case(
    id="header-missing-column",
    decision="An export without csat_score would shift nothing but lose a column: refused, naming it.",
    deliveries=one({"support_tickets.csv": csv_bytes("support_tickets", [["K1", "", "", "A1", "email", "x", "2026-01-05", "", "open"]],
                                                     header=HEADERS["support_tickets"][:-1])}),
    fatal=r"missing csat_score",
    fatal_file="support_tickets.csv",
)
case(
    id="header-extra-column",
    decision="A new upstream column (coupon_code) needs a contract change first: refused, naming it.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [list(order_line("O1").values()) + ["SAVE10"]],
                                                   header=HEADERS["online_orders"] + ["coupon_code"])}),
    fatal=r"unexpected coupon_code",
    fatal_file="online_orders.csv",
)
case(
    id="header-case-changed",
    decision="Column names are exact; 'Loyalty_Card_ID' is a different export format: refused.",
    deliveries=one({"loyalty_members.csv": csv_bytes("loyalty_members", [member("L1")],
                                                     header=["Loyalty_Card_ID"] + HEADERS["loyalty_members"][1:])}),
    fatal=r"missing loyalty_card_id; unexpected Loyalty_Card_ID",
    fatal_file="loyalty_members.csv",
)
case(
    id="header-duplicate-column",
    decision="A header naming customer_id twice cannot be mapped by name: refused.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1")],
                                               header=["customer_id", "customer_id"] + HEADERS["customers"][2:])}),
    fatal=r"missing first_name",
    fatal_file="customers.csv",
)
case(
    id="header-of-another-source",
    decision="A loyalty export dropped into the tickets folder has the same width; only the header tells: refused.",
    deliveries=one({"support_tickets.csv": csv_bytes("loyalty_members", [member("L1")])}),
    fatal=r"header does not match the support_tickets contract",
    fatal_file="support_tickets.csv",
)
case(
    id="repeated-header-line",
    decision="Two exports concatenated repeat the header mid-file; that line is not data (as with the header "
             "row the cloud load keeps) and both exports' records load.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1")]) + csv_bytes("customers", [customer("C2")])}),
    kept={"customers": 2},
    silver={"customers": 2},
)
case(
    id="values-that-look-like-column-names",
    decision="A customer named 'Phone Email' has two values equal to column names; the cloud-side header "
             "check needs half the columns (here 6 of 11) to call a row a header, so it is an ordinary row.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1", first_name="Phone", last_name="Email")])}),
    kept={"customers": 1},
    silver={"customers": 1},
)

# --- CSV structure -----------------------------------------------------------

case(
    id="quoted-newlines",
    decision="RFC 4180 allows line breaks inside quotes (BigQuery: allow_quoted_newlines); the value keeps them.",
    deliveries=one({"support_tickets.csv": csv_bytes("support_tickets", [ticket("K1", category="billing\nrefund"),
                                                                        ticket("K2", category="line one\r\nline two")]),
                    "customers.csv": csv_bytes("customers", [customer("C1", city="New\nYork")])}),
    kept={"support_tickets": 2, "customers": 1},
    check=lambda p: (
        expect(p, "SELECT category FROM silver.support_tickets ORDER BY ticket_id", ["billing\nrefund", "line one\r\nline two"])
        and expect(p, "SELECT city FROM silver.customers", ["New\nYork"])
    ),
)
case(
    id="quoted-commas-and-doubled-quotes",
    decision="Quoted commas and doubled quotes are ordinary RFC 4180 values and survive exactly.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1", first_name='Ann "Jo"', last_name="Lee, Jr.")])}),
    kept={"customers": 1},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name FROM silver.customers", [('Ann "Jo"', "Lee, Jr.")])
    ),
)
case(
    id="quoted-line-breaks-of-the-other-kind",
    decision="A CRLF file whose quoted values hold a bare LF or a bare CR is valid RFC 4180; the values keep "
             "exactly the line breaks they were delivered with.",
    deliveries=one({"support_tickets.csv": csv_bytes("support_tickets", [
        ticket("K1", category="a\nb"), ticket("K2", category="c\rd"), ticket("K3", category="e\r\nf"),
    ], line_end="\r\n")}),
    kept={"support_tickets": 3},
    check=lambda p: (
        expect(p, "SELECT category FROM silver.support_tickets ORDER BY ticket_id", ["a\nb", "c\rd", "e\r\nf"])
    ),
)
case(
    id="line-break-in-an-unquoted-value",
    decision="A bare CR inside a value that is not quoted is not RFC 4180 (BigQuery would split the record "
             "there): refused, naming the line.",
    deliveries=one({"customers.csv": header_line("customers") + b"\nC1,Ann,Lee,,,,New\rYork,,,,\n"}),
    fatal=r"malformed CSV: line 2: a line break \(CR or LF\) inside a value that is not quoted",
    fatal_file="customers.csv",
)
case(
    id="unbalanced-quote",
    decision="An unterminated quote would swallow every later line into one value: refused, naming the line.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [order_line("O1")])
                    + b'O2,1,C1,2026-01-05 10:00:00,web,"P1,1,10,,completed\nO3,1,C1,2026-01-05 10:00:00,web,P1,1,10,,completed\n'}),
    fatal=r"malformed CSV: line 3: unterminated quoted value",
    fatal_file="online_orders.csv",
)
case(
    id="backslash-escaped-quote",
    decision="Backslash escaping is not RFC 4180 (quotes are doubled); the row cannot be split reliably: refused.",
    deliveries=one({"customers.csv": header_line("customers") + b'\nC1,"Ann \\"Jo\\"",Lee,,,,,,,,\n'}),
    fatal=r"malformed CSV: line 2",
    fatal_file="customers.csv",
)
case(
    id="space-before-quoted-value",
    decision="', \"Ann, Jr\"' is quoted for one parser and not for another; ambiguous rows are refused.",
    deliveries=one({"customers.csv": header_line("customers") + b'\nC1, "Ann, Jr",Lee,,,,,,,\n'}),
    fatal=r"malformed CSV: .*[Ll]ine:? 2",
    fatal_file="customers.csv",
)
case(
    id="jagged-row-too-few-fields",
    decision="A row cut short would leave its last columns NULL silently (BigQuery: allow_jagged_rows=false).",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [order_line("O1"),
                                                                     list(order_line("O2").values())[:-1]])}),
    fatal=r"malformed CSV: line 3 has 9 fields, expected 10",
    fatal_file="online_orders.csv",
)
case(
    id="jagged-row-too-many-fields",
    decision="A row with an extra value means a value shifted: refused, never truncated.",
    deliveries=one({"store_sales.csv": csv_bytes("store_sales", [list(sale_line("T1").values()) + ["extra"]])}),
    fatal=r"malformed CSV: line 2 has 11 fields, expected 10",
    fatal_file="store_sales.csv",
)
case(
    id="jagged-row-trailing-empty-fields",
    decision="'A2,Smith, John,Support,' (an unquoted comma, empty hire_date) shifts John into team and "
             "Support into hire_date; the extra field is empty but the row is still refused.",
    deliveries=one({"support_agents.csv": header_line("support_agents") + b"\nA1,Ada,Billing,2020-01-01\nA2,Smith, John,Support,\n"}),
    fatal=r"malformed CSV: line 3 has 5 fields, expected 4",
    fatal_file="support_agents.csv",
)
case(
    id="one-bad-part-fails-the-whole-delivery",
    decision="A delivery is all or nothing: a bad part file stops the good parts and the other sources too.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C9")]),
                    "online_orders/part-1.csv": csv_bytes("online_orders", [order_line("O1")]),
                    "online_orders/part-2.csv": csv_bytes("online_orders", [list(order_line("O2").values())[:3]])}),
    fatal=r"line 2 has 3 fields",
    fatal_file="part-2.csv",
)

# --- Bytes -------------------------------------------------------------------

case(
    id="latin1-bytes-in-a-row",
    decision="'Renée' in Latin-1 is not UTF-8; guessing the encoding could corrupt names: refused, naming line and byte.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1")])
                    + "C2,Renée,Lee,,,,,,,,\n".encode("latin-1")}),
    fatal=r"line 3 is not UTF-8 \(byte 0xE9",
    fatal_file="customers.csv",
)
case(
    id="utf16-file",
    decision="A UTF-16 export is not UTF-8: refused at the header.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1")], encoding="utf-16")}),
    fatal=r"header is not UTF-8",
    fatal_file="customers.csv",
)
case(
    id="nul-byte",
    decision="The BigQuery load fails on ASCII 0, so the local run refuses it too instead of diverging.",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1", first_name="A\x00nn")])}),
    fatal=r"line 2 contains a NUL byte",
    fatal_file="customers.csv",
)
case(
    id="one-megabyte-field",
    decision="A 1 MiB value (a pasted document) is legal CSV and is kept whole.",
    deliveries=one({"products.csv": csv_bytes("products", [{"product_id": "P1", "product_name": "x" * (1 << 20) + "🙂",
                                                             "category": "Kitchen", "unit_price": "1"}])}),
    kept={"products": 1},
    check=lambda p: (
        expect(p, "SELECT length(product_name) FROM silver.products", [(1 << 20) + 1])
    ),
)
case(
    id="unusual-unicode",
    decision="Emoji, right-to-left text, combining marks and full-width or zero-width characters are data; "
             "only ASCII whitespace is trimmed (as BigQuery's \\s), so a no-break-space key stays distinct.",
    deliveries=one({"customers.csv": csv_bytes("customers", [
        customer("C1", first_name="Zoë 👩‍👩‍👧", last_name="עִבְרִית", city="Cafe\u0301"),
        customer("Ｃ１", first_name="مرحبا"),
        customer("\u00a0C1", first_name="nbsp"),
        customer("C\u200b1", first_name="zero width"),
    ])}),
    kept={"customers": 4},
    silver={"customers": 4},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name, city FROM silver.customers WHERE customer_id = 'C1'", [("Zoë 👩‍👩‍👧", "עִבְרִית", "Cafe\u0301")])
    ),
)
case(
    id="ascii-control-characters",
    decision="Bell, escape, DEL and vertical tab inside a value are kept as delivered (no NUL).",
    deliveries=one({"customers.csv": csv_bytes("customers", [customer("C1", first_name="A\x07n\x1bn\x7f", last_name="L\x0bee")])}),
    kept={"customers": 1},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name FROM silver.customers", [("A\x07n\x1bn\x7f", "L\x0bee")])
    ),
)

# --- Values ------------------------------------------------------------------

case(
    id="whitespace-only-values",
    decision="Whitespace-only is empty: NULL in text columns, missing_key for a key, invalid for a required "
             "fact value; an all-blank discount is no discount.",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [
            {c: "   " for c in HEADERS["customers"]} | {"customer_id": "C1"},
            customer(" \t "),
        ]),
        "online_orders.csv": csv_bytes("online_orders", [
            order_line("O1", quantity="  "),
            order_line("O2", discount_amount="   "),
            order_line("O3", channel=" \t "),
        ]),
    }),
    kept={"customers": 1, "online_orders": 1},
    rejected={"customers": {"missing_key": 1}, "online_orders": {"invalid_quantity": 1, "invalid_channel": 1}},
    check=lambda p: (
        expect(p, "SELECT first_name, email, updated_at FROM silver.customers", [(None, None, None)])
    ),
)
case(
    id="quoted-empty-values",
    decision='"" and "   " are empty values like an unquoted empty field; a quoted empty key is missing.',
    deliveries=one({"customers.csv": header_line("customers") + b'\n"C1","","   ",,,,,,,,\n"",Ann,Lee,,,,,,,,\n'}),
    kept={"customers": 1},
    rejected={"customers": {"missing_key": 1}},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name FROM silver.customers", [(None, None)])
    ),
)
case(
    id="null-like-strings",
    decision="Only the empty string is NULL (docs/pipeline-rules.md#cleaning-rules): 'NULL', 'N/A', '\\N' are text where text is allowed and "
             "invalid where a number is required.",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [customer("C1", first_name="NULL", last_name="null", city="N/A",
                                                          state="\\N", email="NULL")]),
        "online_orders.csv": csv_bytes("online_orders", [order_line("O1", quantity="NULL"),
                                                         order_line("O2", discount_amount="null")]),
    }),
    kept={"customers": 1},
    rejected={"online_orders": {"invalid_quantity": 1, "invalid_discount": 1}},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name, city, state, email FROM silver.customers", [("NULL", "null", "N/A", "\\N", None)])
    ),
)
case(
    id="sql-injection-looking-strings",
    decision="Values are data, never SQL: they are stored verbatim and every table survives.",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [
            customer("C1'; drop table silver.customers; --", first_name="Robert'); DROP TABLE raw.customers;--"),
        ]),
        "online_orders.csv": csv_bytes("online_orders", [
            order_line("O1", product_id="P1' OR '1'='1"),
            order_line("O2", quantity="0; drop table gold.customer_360"),
        ]),
        "support_tickets.csv": csv_bytes("support_tickets", [ticket("K1", category="'; delete from ops.rejected_rows; --")]),
    }),
    kept={"customers": 1, "online_orders": 1, "support_tickets": 1},
    rejected={"online_orders": {"invalid_quantity": 1}},
    check=lambda p: (
        expect(p, "SELECT customer_id, first_name FROM silver.customers", [("C1'; drop table silver.customers; --", "Robert'); DROP TABLE raw.customers;--")])
        and expect(p, "SELECT product_id FROM silver.online_order_lines", ["P1' OR '1'='1"])
        and expect(p, "SELECT count(*) FROM ops.rejected_rows WHERE raw_values LIKE '%drop table gold.customer_360%'", [1])
        and expect(p, "SELECT count(*) FROM gold.customer_360", [1])
    ),
)
case(
    id="formula-injection-looking-strings",
    decision="'=HYPERLINK(...)' and friends are stored as delivered; neutralising them is the job of whatever "
             "writes a spreadsheet, not of the warehouse.",
    deliveries=one({"customers.csv": csv_bytes("customers", [
        customer("C1", first_name='=HYPERLINK("http://evil.example","click")', last_name="+cmd|' /C calc'!A0",
                 city="@SUM(A1:A2)", state="-2+3"),
    ])}),
    kept={"customers": 1},
    check=lambda p: (
        expect(p, "SELECT first_name, last_name, city, state FROM silver.customers", [('=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(A1:A2)", "-2+3")])
    ),
)
case(
    id="invalid-iso-dates",
    decision="Impossible ISO dates: on dimensions the date becomes NULL and the row is kept (soft rule); "
             "as a fact's timestamp the row is rejected as invalid_timestamp (hard rule).",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [
            customer("C1", birth_date="2026-02-30"), customer("C2", signup_date="2026-13-01"),
            customer("C3", birth_date="0000-00-00", updated_at="2026-02-29 00:00:00"),
        ]),
        "stores.csv": csv_bytes("stores", [{"store_id": "S1", "store_name": "Main", "opened_date": "2025-02-29"}]),
        "online_orders.csv": csv_bytes("online_orders", [order_line("O1", order_ts="2026-02-30 10:00:00")]),
    }),
    kept={"customers": 3, "stores": 1},
    rejected={"online_orders": {"invalid_timestamp": 1}},
    check=lambda p: (
        expect(p, "SELECT customer_id, birth_date, signup_date, updated_at FROM silver.customers ORDER BY 1", [
            ("C1", None, None, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)),
            ("C2", None, None, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)),
            ("C3", None, None, None),
        ])
    ),
)
case(
    id="invalid-us-dates",
    decision="MM/DD/YYYY is accepted for dates only when it is a real day; timestamps accept ISO forms only, "
             "so a US-style timestamp is invalid_timestamp.",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [
            customer("C1", birth_date="02/30/2026"), customer("C2", birth_date="13/01/2026"),
            customer("C3", birth_date="1/5/2026"), customer("C4", birth_date="12/31/1999"),
        ]),
        "support_tickets.csv": csv_bytes("support_tickets", [
            ticket("K1", created_at="01/05/2026 09:00:00"), ticket("K2", created_at="01/05/2026"),
        ]),
    }),
    kept={"customers": 4},
    rejected={"support_tickets": {"invalid_timestamp": 2}},
    check=lambda p: (
        expect(p, "SELECT birth_date FROM silver.customers ORDER BY customer_id", [None, None, None, dt.date(1999, 12, 31)])
    ),
)
case(
    id="invalid-timestamps",
    decision="Hour 24, missing seconds, zone names, epoch numbers and empty timestamps are all invalid_timestamp "
             "on a fact; an ISO timestamp with microseconds and an offset is kept.",
    deliveries=one({"store_sales.csv": csv_bytes("store_sales", [
        sale_line("T1", transaction_ts="2026-01-05 24:00:00"), sale_line("T2", transaction_ts="2026-01-05T10:00"),
        sale_line("T3", transaction_ts="2026-01-05 10:00:00 PST"), sale_line("T4", transaction_ts="1767607200"),
        sale_line("T5", transaction_ts=""), sale_line("T6", transaction_ts="2026-01-05T10:00:00.123456+05:30"),
    ])}),
    kept={"store_sales": 1},
    rejected={"store_sales": {"invalid_timestamp": 5}},
    check=lambda p: (
        expect(p, "SELECT transaction_ts FROM silver.store_sale_lines", [dt.datetime(2026, 1, 5, 4, 30, 0, 123456, tzinfo=dt.timezone.utc)])
    ),
)
case(
    id="ancient-and-far-future-timestamps",
    decision="Years 1 to 9999 are valid timestamps in both engines and are kept; a five-digit year is invalid.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [
        order_line("O1", order_ts="0001-01-01 00:00:00"), order_line("O2", order_ts="9999-12-31 23:59:59.999999"),
        order_line("O3", order_ts="10000-01-01 00:00:00"),
    ])}),
    kept={"online_orders": 2},
    rejected={"online_orders": {"invalid_timestamp": 1}},
)
case(
    id="bad-quantities",
    decision="Quantity is a positive whole number of at most 9 digits: zero, negative, fractional, scientific, "
             "thousands-separated, beyond INT64 and 10-digit quantities are invalid_quantity; '007' is 7.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [
        order_line(f"O{i}", quantity=q)
        for i, q in enumerate(["0", "-1", "1.5", "1e3", "1,000", "99999999999999999999", "1000000000",
                               "999999999", "007"], start=1)
    ])}),
    kept={"online_orders": 2},
    rejected={"online_orders": {"invalid_quantity": 7}},
    check=lambda p: (
        expect(p, "SELECT quantity FROM silver.online_order_lines ORDER BY order_id", [999999999, 7])
    ),
)
case(
    id="bad-prices",
    decision="A price is a non-negative plain decimal (optional $) of at most 10 integer digits; negative, "
             "11-digit, thousands-separated, scientific, currency-coded and empty prices are invalid_price.",
    deliveries=one({"store_sales.csv": csv_bytes("store_sales", [
        sale_line(f"T{i}", unit_price=price)
        for i, price in enumerate(["-0.01", "12345678901", "$1,000.00", "1e3", "", "USD 5",
                                   "$0", "0.001", "9999999999.99"], start=1)
    ])}),
    kept={"store_sales": 3},
    rejected={"store_sales": {"invalid_price": 6}},
    check=lambda p: (
        expect(p, "SELECT unit_price FROM silver.store_sale_lines ORDER BY transaction_id", [Decimal("0"), Decimal("0.001"), Decimal("9999999999.99")])
    ),
)
_BIG = "9223372036854775807"
case(
    id="enormous-quantity-times-price",
    decision="Two lines of INT64-max units at a 10-digit price would overflow NUMERIC in every later gold "
             "rebuild and block the pipeline; such quantities are invalid_quantity, and the largest valid "
             "lines sum exactly.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [
        order_line("O1", quantity=_BIG, unit_price="9999999999.99"),
        order_line("O2", quantity=_BIG, unit_price="9999999999.99"),
        order_line("O3", quantity="999999999", unit_price="9999999999.99"),
        order_line("O4", quantity="999999999", unit_price="9999999999.99"),
    ])}),
    kept={"online_orders": 2},
    rejected={"online_orders": {"invalid_quantity": 2}},
    check=lambda p: (
        expect(p, "SELECT revenue FROM gold.average_order_value WHERE dimension = 'product'", [2 * 999999999 * Decimal("9999999999.99")])
    ),
)
case(
    id="key-values-that-do-not-parse",
    decision="A line_number of -1 or 1.0 is not a whole number, so the key is missing; line 0 is a whole "
             "number and is kept.",
    deliveries=one({"online_orders.csv": csv_bytes("online_orders", [
        order_line("O1", line="-1"), order_line("O1", line="1.0"), order_line("O1", line="0"),
    ])}),
    kept={"online_orders": 1},
    rejected={"online_orders": {"missing_key": 2}},
)

# --- Duplicates, order and references -----------------------------------------

case(
    id="duplicates-within-a-file",
    decision="Three identical rows and a newer version of the same customer collapse into the newest: "
             "all four rows are accounted for as kept, one silver row results.",
    deliveries=one({"customers.csv": csv_bytes("customers", [
        customer("C1", first_name="Old"), customer("C1", first_name="Old"), customer("C1", first_name="Old"),
        customer("C1", first_name="New", updated_at="2026-01-02 00:00:00"),
    ])}),
    kept={"customers": 4},
    silver={"customers": 1},
    check=lambda p: (
        expect(p, "SELECT first_name FROM silver.customers", ["New"])
    ),
)
case(
    id="keys-equal-after-cleaning",
    decision="' C1 ' and 'C1' are the same key once trimmed, and line '01' is line 1: they de-duplicate "
             "together (keys differing in case stay distinct).",
    deliveries=one({
        "customers.csv": csv_bytes("customers", [customer(" C1 "), customer("C1"), customer("c1")]),
        "online_orders.csv": csv_bytes("online_orders", [order_line("O1", line="01"), order_line("O1", line="1"),
                                                         order_line("O1", line=" 1 ")]),
    }),
    kept={"customers": 3, "online_orders": 3},
    silver={"customers": 2, "online_order_lines": 1},
)
case(
    id="duplicates-across-days",
    decision="The same lines delivered again the next day are one record each; the later delivery is the "
             "one kept, and both days account for all their rows.",
    deliveries=(
        Delivery({"online_orders.csv": csv_bytes("online_orders", [order_line("O1"), order_line("O2")])}, DAY1),
        Delivery({"online_orders.csv": csv_bytes("online_orders", [order_line("O1"), order_line("O2")])}, DAY2),
    ),
    kept={"online_orders": 4},
    silver={"online_order_lines": 2},
    check=lambda p: (
        expect(p, "SELECT DISTINCT _delivery_date FROM silver.online_order_lines", [DAY2])
    ),
)
case(
    id="updates-out-of-order",
    decision="Versions arrive late and shuffled: the latest updated_at wins whatever the delivery order, "
             "and gold follows it (a late, older tier does not downgrade the customer).",
    deliveries=(
        Delivery({"customers.csv": csv_bytes("customers", [customer("C1")]),
                  "loyalty_members.csv": csv_bytes("loyalty_members", [
                      member("L1", customer_id="C1", tier="gold", updated_at="2026-01-04 00:00:00")]),
                  "products.csv": csv_bytes("products", [{"product_id": "P1", "unit_price": "19.99",
                                                          "updated_at": "2026-01-03 00:00:00"}])}, DAY2),
        Delivery({"loyalty_members.csv": csv_bytes("loyalty_members", [
                      member("L1", customer_id="C1", tier="silver", updated_at="2026-01-03 00:00:00"),
                      member("L1", customer_id="C1", tier="bronze", updated_at="2026-01-02 00:00:00")]),
                  "products.csv": csv_bytes("products", [{"product_id": "P1", "unit_price": "9.99",
                                                          "updated_at": "2026-01-01 00:00:00"}])}, DAY1),
    ),
    kept={"customers": 1, "loyalty_members": 3, "products": 2},
    silver={"loyalty_members": 1, "products": 1},
    check=lambda p: (
        expect(p, "SELECT loyalty_tier FROM gold.customer_360 WHERE customer_key = 'C1'", ["Gold"])
        and expect(p, "SELECT unit_price FROM silver.products", [Decimal("19.99")])
    ),
)
case(
    id="unknown-product-store-customer-card-agent",
    decision="Facts naming unknown products, stores, customers, cards or agents are kept; gold names them "
             "Unknown and the reference check only warns.",
    deliveries=one({
        "products.csv": csv_bytes("products", [{"product_id": "P1", "product_name": "Mug", "category": "Kitchen"}]),
        "stores.csv": csv_bytes("stores", [{"store_id": "S1", "store_name": "Main"}]),
        "online_orders.csv": csv_bytes("online_orders", [order_line("O1", product_id="P404", customer_id="C404")]),
        "store_sales.csv": csv_bytes("store_sales", [sale_line("T1", store_id="S404", loyalty_card_id="L404")]),
        "support_tickets.csv": csv_bytes("support_tickets", [ticket("K1", agent_id="A404", customer_id="C404")]),
    }),
    kept={"products": 1, "stores": 1, "online_orders": 1, "store_sales": 1, "support_tickets": 1},
    check=lambda p: (
        expect(p, "SELECT dimension, dimension_id, dimension_name FROM gold.average_order_value "
                "WHERE dimension_id IN ('P404', 'S404') ORDER BY 1", [("product", "P404", "Unknown"), ("store", "S404", "Unknown")])
        and expect(p, "SELECT agent_name FROM gold.agent_performance_summary WHERE agent_id = 'A404'", ["Unknown"])
        and expect(p, "SELECT status FROM ops.data_quality_results WHERE check_name = 'facts_reference_known_dimensions'", ["warn"])
    ),
)


# --- gzip-compressed files ----------------------------------------------------------------------------


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


_ORDERS = csv_bytes("online_orders", [order_line(f"O{i}", quantity=str(1 + i % 5)) for i in range(1, 400)])

case(
    id="gzip-compressed-files",
    decision="Retailers deliver .csv.gz and BigQuery loads it: a source file and a folder of parts, compressed, "
             "load every row as the plain files would.",
    deliveries=one({"customers.csv.gz": gz(csv_bytes("customers", [customer("C1"), customer("C2")])),
                    "online_orders/part-1.csv.gz": gz(_ORDERS),
                    "online_orders/part-2.csv.gz": gz(csv_bytes("online_orders", [order_line("P1")]))}),
    kept={"customers": 2, "online_orders": 400},
    silver={"customers": 2, "online_order_lines": 400},
)
case(
    id="gzip-that-is-not-gzip",
    decision="A plain CSV named .csv.gz would fail the BigQuery load: refused, naming the file.",
    deliveries=one({"customers.csv.gz": csv_bytes("customers", [customer("C1")])}),
    fatal=r"not a readable gzip file",
    fatal_file="customers.csv.gz",
)
case(
    id="corrupt-gzip",
    decision="A damaged byte inside the compressed data fails its check: refused, never half-loaded.",
    deliveries=one({"online_orders.csv.gz": flipped(gz(_ORDERS), len(gz(_ORDERS)) // 2)}),
    fatal=r"not a readable gzip file",
    fatal_file="online_orders.csv.gz",
)
case(
    id="truncated-gzip",
    decision="A compressed file cut short (an interrupted upload) holds only some rows: refused, not loaded "
             "as far as it goes.",
    deliveries=one({"online_orders.csv.gz": gz(_ORDERS)[: len(gz(_ORDERS)) // 2]}),
    fatal=r"not a readable gzip file \(Compressed file ended before the end-of-stream marker",
    fatal_file="online_orders.csv.gz",
)
case(
    id="gzip-missing-only-its-trailer",
    decision="Cut just before the 8-byte trailer, every row decompresses but the file is still incomplete: refused.",
    deliveries=one({"online_orders.csv.gz": gz(_ORDERS)[:-8]}),
    fatal=r"not a readable gzip file",
    fatal_file="online_orders.csv.gz",
)
case(
    id="gzip-with-bytes-after-the-data",
    decision="Bytes after the compressed data are not gzip: refused rather than ignored.",
    deliveries=one({"online_orders.csv.gz": gz(_ORDERS) + b"garbage"}),
    fatal=r"not a readable gzip file",
    fatal_file="online_orders.csv.gz",
)
case(
    id="gzip-of-two-exports-concatenated",
    decision="Two gzip members one after the other are one valid gzip file (RFC 1952), as two plain exports "
             "concatenated are one CSV: both exports' rows load.",
    deliveries=one({"customers.csv.gz": gz(csv_bytes("customers", [customer("C1")]))
                    + gz(csv_bytes("customers", [customer("C2")]))}),
    kept={"customers": 2},
)
case(
    id="mixed-csv-and-gzip-in-one-source",
    decision="One BigQuery load reads either compressed or plain files; a source mixing both is refused.",
    deliveries=one({"online_orders/part-1.csv": csv_bytes("online_orders", [order_line("O1")]),
                    "online_orders/part-2.csv.gz": gz(csv_bytes("online_orders", [order_line("O2")]))}),
    fatal=r"online_orders mixes \.csv and \.csv\.gz files",
    fatal_file="online_orders/part-2.csv.gz",
)

# Every case about what a file holds gives the same outcome when the file is delivered gzip-compressed:
# one read serves both, and gzip only changes where the bytes come from.
GZIP_TWINS = (
    "utf8-bom", "crlf-line-ends", "bare-cr-line-ends", "semicolon-delimiter", "empty-file", "bom-only-file",
    "header-only", "whitespace-only-line", "no-final-newline", "header-reordered", "header-missing-column",
    "header-of-another-source", "repeated-header-line", "quoted-newlines", "line-break-in-an-unquoted-value",
    "unbalanced-quote", "backslash-escaped-quote", "space-before-quoted-value", "jagged-row-too-few-fields",
    "jagged-row-too-many-fields", "jagged-row-trailing-empty-fields", "one-bad-part-fails-the-whole-delivery",
    "latin1-bytes-in-a-row", "utf16-file", "nul-byte", "one-megabyte-field",
)


def _gzipped(original: Case) -> Case:
    deliveries = tuple(
        Delivery({f"{name}.gz": gz(data) for name, data in delivery.files.items()}, delivery.day)
        for delivery in original.deliveries
    )
    return dataclasses.replace(original, id=f"{original.id}-gzip", deliveries=deliveries,
                               decision=f"As {original.id}, delivered as .csv.gz.")


for _twin in GZIP_TWINS:
    CASES.append(_gzipped(next(c for c in CASES if c.id == _twin)))


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    case: str
    outcome: str  # fatal | blocked | accepted
    message: str = ""
    rows_written: int = 0
    kept: Counter = field(default_factory=Counter)
    rejected: dict[str, Counter] = field(default_factory=dict)
    header_lines: int = 0
    unaccounted: int = 0
    raw_short: int = 0  # rows written but missing from the raw partition
    ignored: list[str] = field(default_factory=list)  # markers the runs listed as ignored

    @property
    def rows_lost(self) -> int:
        return self.unaccounted + self.raw_short


def data_rows(data: bytes, source: str, compressed: bool = False) -> tuple[int, int]:
    """(data rows, exact header lines) of a CSV file written by a case, counted independently of the engine."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 25))
    if compressed:
        data = gzip.decompress(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader, None)
    rows = headers = 0
    for fields in reader:
        if fields == HEADERS[source]:
            headers += 1
        elif fields:
            rows += 1
    return rows, headers


def source_of(path: str) -> str:
    return Path(path).parent.name if "/" in path else path.removesuffix(".gz").removesuffix(".csv")


def write(folder: Path, delivery: Delivery) -> Path:
    folder.mkdir(parents=True)
    for relative, data in delivery.files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Link):
            path.symlink_to(data.target)
        elif isinstance(data, Fifo):
            os.mkfifo(path)
        else:
            path.write_bytes(data)
    return folder


def ignored_in(run: engine.RunResult, folder: Path) -> list[str]:
    return sorted(str(Path(p).resolve().relative_to(folder.resolve())) for p in run.ignored_files)


BASELINE = {
    "customers": [customer("C1", email="ann@x.com"), customer("C2")],
    "loyalty_members": [member("L1", customer_id="C1")],
    "online_orders": [order_line("O1"), order_line("O2", quantity="0")],
    "store_sales": [sale_line("T1", loyalty_card_id="L1")],
    "support_tickets": [ticket("K1", customer_id="C1")],
    "support_agents": [{"agent_id": "A1", "agent_name": "Ada"}],
    "products": [{"product_id": "P1", "product_name": "Mug"}],
    "stores": [{"store_id": "S1", "store_name": "Main"}],
}


def baseline_warehouse(root: Path) -> Path:
    """A warehouse holding one earlier, good delivery: a fatal or blocked case must leave it exactly so."""
    folder = write(root / "baseline-delivery",
                   Delivery({f"{name}.csv": csv_bytes(name, rows) for name, rows in BASELINE.items()}))
    warehouse = root / "baseline.duckdb"
    engine.run_delivery(folder, DAY1 - dt.timedelta(days=1), warehouse)
    return warehouse


def evaluate(case: Case, root: Path, baseline: Path | None = None) -> Outcome:
    """Runs the case and observes what happened; `verify` then compares it with what the case declares."""
    result = Outcome(case.id, "accepted")
    if case.outcome in ("fatal", "blocked"):
        assert len(case.deliveries) == 1, f"{case.id}: a failing case has one delivery"
        folder = write(root / "delivery", case.deliveries[0])
        # A fresh warehouse: the failed run must not leave a file behind.
        fresh = root / "fresh.duckdb"
        try:
            engine.run_delivery(folder, case.deliveries[0].day, fresh)
        except engine.PipelineError as error:
            result.outcome = "fatal" if isinstance(error, engine.InputError) else "blocked"
            result.message = str(error)
        assert not fresh.exists(), f"{case.id}: a failed first run left {fresh.name} behind"
        # An existing warehouse: exactly as before.
        existing = root / "existing.duckdb"
        shutil.copy(baseline or baseline_warehouse(root), existing)
        before = snapshot(existing)
        try:
            engine.run_delivery(folder, case.deliveries[0].day, existing)
        except engine.PipelineError as error:
            assert str(error) == result.message, f"{case.id}: the error differs with an existing warehouse: {error}"
        else:
            result.outcome = "accepted"
        assert snapshot(existing) == before, f"{case.id}: the failed run changed the existing warehouse"
        return result

    pipeline = Pipeline(root)
    for number, delivery in enumerate(case.deliveries, start=1):
        folder = write(root / f"delivery-{number}", delivery)
        try:
            run = engine.run_delivery(folder, delivery.day, pipeline.warehouse)
        except engine.PipelineError as error:
            result.outcome = "fatal" if isinstance(error, engine.InputError) else "blocked"
            result.message = str(error)
            return result
        result.ignored += ignored_in(run, folder)
        written: Counter = Counter()
        for relative, data in delivery.files.items():
            if relative.rsplit("/", 1)[-1] in contract.DELIVERY_MARKERS:
                continue
            rows, headers = data_rows(data, source_of(relative), compressed=relative.endswith(".gz"))
            written[source_of(relative)] += rows
            result.header_lines += headers
            result.rows_written += rows
        accounted = account(pipeline.warehouse, delivery.day)
        for source, rows in written.items():
            found = accounted.get(source)
            raw = found.raw if found else 0
            result.raw_short += max(rows - raw, 0)
            assert raw == rows, f"{case.id}: {source} on {delivery.day}: {rows} rows written, {raw} in raw"
        for source, found in accounted.items():
            result.kept[source] += found.kept
            result.rejected.setdefault(source, Counter()).update(found.rejected)
            result.unaccounted += found.unaccounted
    return result


def verify(case: Case, result: Outcome, pipeline: Pipeline | None = None) -> None:
    assert result.outcome == case.outcome, (
        f"{case.id}: expected {case.outcome}, got {result.outcome} {result.message!r}"
    )
    if case.outcome == "fatal":
        message = result.message
        assert "\n" not in message, f"{case.id}: the error is not one line: {message!r}"
        assert case.fatal_file in message, f"{case.id}: the error does not name {case.fatal_file}: {message}"
        assert re.search(case.fatal, message), f"{case.id}: the error does not state the cause: {message}"
        return
    if case.outcome == "blocked":
        assert "\n" not in result.message and re.search(case.blocked, result.message), (
            f"{case.id}: unexpected failure message {result.message!r}"
        )
        return
    assert result.unaccounted == 0, f"{case.id}: {result.unaccounted} raw rows neither kept nor rejected"
    rejected = {s: dict(c) for s, c in result.rejected.items() if c}
    assert rejected == case.rejected, f"{case.id}: rejected {rejected}, expected {case.rejected}"
    kept = {s: n for s, n in result.kept.items() if n}
    assert kept == case.kept, f"{case.id}: kept {kept}, expected {case.kept}"
    assert sorted(result.ignored) == sorted(case.ignored), f"{case.id}: ignored {result.ignored}, expected {case.ignored}"
    if pipeline is not None:
        for table, rows in case.silver.items():
            found = pipeline.query(f"SELECT count(*) FROM silver.{table}")[0][0]
            assert found == rows, f"{case.id}: silver.{table} holds {found} rows, expected {rows}"
        if case.check:
            case.check(pipeline)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    return baseline_warehouse(tmp_path_factory.mktemp("baseline"))


# Longer than any case takes; a run that waits on a FIFO never ends.
CASE_SECONDS = 120


def _took_too_long(signal_number, frame):
    raise AssertionError(f"the case did not end within {CASE_SECONDS} s (is a read waiting on a FIFO?)")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_delivery(case: Case, tmp_path: Path, baseline: Path):
    previous = signal.signal(signal.SIGALRM, _took_too_long)
    signal.alarm(CASE_SECONDS)
    try:
        result = evaluate(case, tmp_path, baseline)
        verify(case, result, Pipeline(tmp_path) if case.outcome == "accepted" else None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_is_broad_and_every_case_is_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 25, f"only {len(CASES)} kinds of bad input"
    outcomes = Counter(c.outcome for c in CASES)
    assert outcomes["fatal"] >= 10 and outcomes["accepted"] >= 10, outcomes
    for c in CASES:
        assert c.decision.strip(), f"{c.id}: state the decision"
        if c.outcome == "fatal":
            assert c.fatal_file, f"{c.id}: name the file the error must mention"
