"""Reading an uploaded import file into a ``Table``: its header row and raw rows.

``read_table`` takes the upload's name and bytes and returns the cells as the file holds
them (strings from a CSV file; strings, numbers, dates … from a workbook), with the
spreadsheet's row numbers, blank rows left out; the first non-blank row is the header. It
knows nothing of what the columns mean (``formats``) or of the database (``services``).

- **XLSX** (recognised by content, whatever the file's name): opened read-only, cached
  values rather than formulas; the sheet named 房屋 or ``households``, else the first sheet
  other than an instructions sheet (说明/``instructions``).
- **CSV**: UTF-16 if the file starts with its BOM, else UTF-8 (with or without BOM), else
  GB18030 (what Excel in China saves: GBK); a decoding that yields NUL characters does not
  count. The delimiter (comma, tab or semicolon) is the one the first non-blank line uses
  most.
- **Guards**, each a 422 (``ValidationFailed`` with ``fields={"file": [message]}``), never a
  500: more than ``MAX_BYTES`` bytes; an empty file, or headers without rows; an old
  ``.xls`` (by name or content) or an extension other than xlsx/xlsm/csv/txt; a workbook or
  CSV file that cannot be read; a zip bomb (an ``.xlsx`` whose members unpack to more than
  ``MAX_UNPACKED_BYTES``); more than ``MAX_ROWS`` data rows, or a row past
  ``MAX_SCANNED_ROWS`` (blank ones included: a sheet of blank rows is not read forever).
  Only the first ``MAX_COLUMNS`` columns are read.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.imports.formats import MAX_BYTES, MAX_ROWS, TEMPLATE_SHEET

MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an .xlsx is a zip: bound what it unpacks to
MAX_SCANNED_ROWS = 3 * MAX_ROWS  # blank rows included: bounds a sheet of empty rows
MAX_COLUMNS = 60


@dataclass
class Table:
    headers: list[str]
    header_row: int
    rows: list[tuple[int, list[Any]]]  # (spreadsheet row number, cells), blank rows left out


def _file_error(message) -> ValidationFailed:
    return ValidationFailed(_l("The file cannot be imported."), fields={"file": [message]})


def _blank(cells: Iterable[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _table(numbered_rows: Iterable[tuple[int, list[Any]]]) -> Table:
    headers: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[Any]]] = []
    for number, cells in numbered_rows:
        if number > MAX_SCANNED_ROWS:
            raise _file_error(_l("The file has more than %(max)d rows.", max=MAX_ROWS))
        if _blank(cells):
            continue
        if headers is None:
            headers = ["" if cell is None else str(cell) for cell in cells]
            header_row = number
            continue
        rows.append((number, list(cells)))
        if len(rows) > MAX_ROWS:
            raise _file_error(_l("The file has more than %(max)d rows.", max=MAX_ROWS))
    if headers is None:
        raise _file_error(_l("The file is empty."))
    if not rows:
        raise _file_error(_l("The file has headers but no rows."))
    return Table(headers, header_row, rows)


def _trimmed(cells: Iterable[Any]) -> list[Any]:
    """A sheet row without its trailing empty cells (read-only sheets pad rows)."""
    cells = list(cells)
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    unreadable = _file_error(_l("The file is not a readable Excel workbook (.xlsx)."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:  # a zip bomb
            raise unreadable
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a malformed workbook is a 422, never a 500
        raise unreadable from None
    try:
        by_name = {name.strip().lower(): name for name in workbook.sheetnames}
        name = by_name.get(TEMPLATE_SHEET) or by_name.get("households")
        if name is None:
            candidates = [
                n for n in workbook.sheetnames if n.strip().lower() not in {"说明", "instructions"}
            ]
            name = (candidates or workbook.sheetnames)[0]
        sheet = workbook[name]
        numbered = enumerate(
            (
                _trimmed(r)
                for r in sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
            ),
            start=1,
        )
        return _table(numbered)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001
        raise unreadable from None
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")  # Excel in China saves CSV as GBK
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise _file_error(_l("The file is not readable text: save it as CSV (UTF-8 or GBK)."))


def _read_csv(data: bytes) -> Table:
    text = _decode(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", "\t", ";"), key=first.count)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return _table(enumerate((row[:MAX_COLUMNS] for row in reader), start=1))
    except csv.Error:
        raise _file_error(_l("The file is not a readable CSV file.")) from None


def read_table(filename: str | None, data: bytes) -> Table:
    """The header and rows of an uploaded ``.xlsx`` or ``.csv`` file (422 if unreadable)."""
    if len(data) > MAX_BYTES:
        raise _file_error(_l("The file is larger than %(max)d MB.", max=MAX_BYTES // 2**20))
    if not data.strip():
        raise _file_error(_l("The file is empty."))
    extension = (filename or "").rpartition(".")[2].lower() if "." in (filename or "") else ""
    if extension == "xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            _l("Old Excel files (.xls) are not supported: save the file as .xlsx or CSV.")
        )
    if extension not in {"", "xlsx", "xlsm", "csv", "txt"}:
        raise _file_error(_l("Upload an .xlsx or .csv file."))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if extension in {"xlsx", "xlsm"}:
        raise _file_error(_l("The file is not a readable Excel workbook (.xlsx)."))
    return _read_csv(data)
