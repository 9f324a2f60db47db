"""Import files for tests: CSV and XLSX bytes from rows, and an estate to import into."""

from __future__ import annotations

import csv
import io

HEADER = ["楼栋", "楼层数", "电梯", "楼栋类型", "单元", "房号", "楼层", "面积", "入住状态",
          "业主", "电话", "类别", "车位"]  # fmt: skip

# Two buildings, five households, three parking spaces: a small valid file.
ROWS = list(
    csv.reader(
        """\
1栋,6,无,多层,1,101,1,86.50,自住,张三,13800000001,普通,P1
1栋,6,无,多层,1,102,1,72,出租,李四,13800000002,低保,
1栋,6,无,多层,2,201,2,90.25,空置,,,,
2栋,11,有,小高层,1,1101,11,120,自住,王五,,,"P2,P3"
2栋,11,有,小高层,1,1102,11,118.8,,赵六,,,
""".splitlines()
    )
)


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig", delimiter=",") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER, sheet="房屋", extra_sheets=()) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for name in extra_sheets:  # sheets before the data sheet
        workbook.create_sheet(name, 0).append(["说明"])
    data = workbook.active if not extra_sheets else workbook.worksheets[-1]
    data.title = sheet
    data.append(header)
    for row in rows:
        data.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_cell(rows, index: int, column: str, value, header=HEADER):
    """A copy of ``rows`` with one cell changed."""
    copied = [list(row) for row in rows]
    copied[index][header.index(column)] = value
    return copied
