"""What a delivery folder holds: exactly the files the cloud transfer would load, every other entry refused.

A delivery folder holds, for any subset of the sources, `<source>.csv` / `<source>.csv.gz` files and
`<source>/` folders of part files. Inside a source folder the data files are the regular files whose
names end in `.csv` or `.csv.gz` (contract.DATA_FILE_SUFFIXES), as the transfer's wildcard
`<source>/<YYYYMMDD>/*.csv*` loads them, hidden ones included. The harmless markers of
contract.DELIVERY_MARKERS are listed as ignored. Anything else is a fatal error naming the entry and
saying what to do: a sub-folder (the transfer does not descend into it), a link that leads nowhere, a
FIFO or device, a name the cloud pattern would load that is not a data file (`orders.csv.bak`), or a
name the cloud would skip (`ORDERS.CSV`). Names are only ever compared, never used as patterns.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from customer360 import contract
from customer360.contract import Source
from customer360.csvload import display

_DAY_NAME = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_CASE_SENSITIVE = ("{where}: the cloud transfer matches names case-sensitively and would skip this file; "
                   "rename it to end in lower-case .csv or .csv.gz")


class DeliveryError(Exception):
    """The delivery folder is not a delivery; str() is one line naming the entry and what to do."""


@dataclass(frozen=True)
class DeliveryFile:
    source: Source
    path: Path

    @property
    def name_in_delivery(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}" if self.path.parent.name == self.source.name else self.path.name


@dataclass
class Delivery:
    folder: Path
    files: list[DeliveryFile] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return sorted({f.source.name for f in self.files})

    def files_of(self, source: str) -> list[DeliveryFile]:
        return [f for f in self.files if f.source.name == source]


def date_of_folder_name(name: str) -> dt.date | None:
    """The delivery day a folder is named after (YYYY-MM-DD or YYYYMMDD), or None."""
    match = _DAY_NAME.match(name)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _kind(entry: Path) -> str:
    """file, dir, dangling_link or other (FIFO, socket, device), following links."""
    try:
        mode = entry.stat().st_mode
    except FileNotFoundError:
        return "dangling_link" if entry.is_symlink() else "missing"
    except OSError:
        return "unreadable"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def _refuse_entry(entry: Path, kind: str) -> None:
    where = display(entry)
    if kind == "dangling_link":
        raise DeliveryError(f"{where}: a link to {os.readlink(entry)!r}, which does not exist; remove it or deliver the file itself")
    if kind == "other":
        raise DeliveryError(f"{where}: not a regular file (a FIFO, socket or device); a delivery holds only files")
    if kind == "unreadable":
        raise DeliveryError(f"{where}: cannot be read (check its permissions)")
    if kind == "missing":
        raise DeliveryError(f"{where}: disappeared while the delivery was being listed; deliver it again")


def _source_file(source: Source, path: Path, delivery: Delivery) -> None:
    name = path.name
    kind = _kind(path)
    if name in contract.DELIVERY_MARKERS and kind in ("file", "dangling_link"):
        delivery.ignored.append(path)
        return
    if kind == "dir":
        raise DeliveryError(
            f"{display(path)}: a folder inside the {source.name} folder; the cloud transfer loads only the files "
            f"directly in <source>/<day>/, so move its files up into {source.name}/ or remove it"
        )
    _refuse_entry(path, kind)
    if contract.is_data_file_name(name):
        delivery.files.append(DeliveryFile(source, path))
        return
    if contract.cloud_pattern_matches(name):
        raise DeliveryError(
            f"{display(path)}: the cloud transfer would load this file as CSV ({contract.CLOUD_FILE_PATTERN}) but it "
            f"is not a data file; rename it to end in .csv or .csv.gz, or remove it"
        )
    if name.lower().endswith(contract.DATA_FILE_SUFFIXES):
        raise DeliveryError(_CASE_SENSITIVE.format(where=display(path)))
    raise DeliveryError(
        f"{display(path)}: not a CSV file; a source folder holds only *.csv or *.csv.gz files "
        f"(and the markers {', '.join(contract.DELIVERY_MARKERS)})"
    )


def discover(folder: Path) -> Delivery:
    """The delivery in FOLDER; raises DeliveryError naming the first entry that is not part of one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DeliveryError(f"{display(folder)}: delivery folder not found")
    delivery = Delivery(folder)
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as error:
        raise DeliveryError(f"{display(folder)}: cannot list the folder ({error.strerror})") from None
    day_folders = [e for e in entries if _kind(e) == "dir" and date_of_folder_name(e.name)]
    for entry in entries:
        name = entry.name
        kind = _kind(entry)
        if name in contract.DELIVERY_MARKERS and kind in ("file", "dangling_link"):
            delivery.ignored.append(entry)
            continue
        if kind == "dir":
            source = contract.SOURCES_BY_NAME.get(name)
            if source is None:
                if day_folders:
                    raise DeliveryError(
                        f"{display(folder)}: holds delivery days ({day_folders[0].name}, ...), not sources; "
                        f"give one day (--data {display(day_folders[0])}) or run `c360 backfill --data {display(folder)}`"
                    )
                raise DeliveryError(
                    f"{display(entry)}: '{name}' is not a source of the contract "
                    f"(expected one of: {', '.join(contract.SOURCES_BY_NAME)})"
                )
            try:
                parts = sorted(entry.iterdir(), key=lambda p: p.name)
            except OSError as error:
                raise DeliveryError(f"{display(entry)}: cannot list the folder ({error.strerror})") from None
            for part in parts:
                _source_file(source, part, delivery)
            continue
        _refuse_entry(entry, kind)
        stem = next((name[: -len(suffix)] for suffix in contract.DATA_FILE_SUFFIXES if name.endswith(suffix)), None)
        if stem is None and name.lower().endswith(contract.DATA_FILE_SUFFIXES):
            raise DeliveryError(_CASE_SENSITIVE.format(where=display(entry)))
        if stem is None:
            raise DeliveryError(
                f"{display(entry)}: not a CSV file; a delivery holds only <source>.csv, <source>.csv.gz or "
                f"<source>/ folders of them (and the markers {', '.join(contract.DELIVERY_MARKERS)})"
            )
        source = contract.SOURCES_BY_NAME.get(stem)
        if source is None:
            raise DeliveryError(
                f"{display(entry)}: '{stem}' is not a source of the contract "
                f"(expected one of: {', '.join(contract.SOURCES_BY_NAME)})"
            )
        delivery.files.append(DeliveryFile(source, entry))
    for source_name in delivery.sources:
        compressed = {f.path.name.endswith(".gz") for f in delivery.files_of(source_name)}
        if len(compressed) > 1:
            example = next(f for f in delivery.files_of(source_name) if f.path.name.endswith(".gz"))
            raise DeliveryError(
                f"{display(example.path)}: {source_name} mixes .csv and .csv.gz files; one BigQuery load reads "
                "either compressed or plain files, so deliver all of a source's files one way"
            )
    if not delivery.files:
        if day_folders:
            raise DeliveryError(
                f"{display(folder)}: holds delivery days ({day_folders[0].name}, ...), not sources; "
                f"give one day (--data {display(day_folders[0])}) or run `c360 backfill --data {display(folder)}`"
            )
        raise DeliveryError(
            f"{display(folder)}: no source files (expected <source>.csv, <source>.csv.gz or <source>/*.csv)"
        )
    return delivery
