"""Benchmark: import a Mo'er-sized estate (29 buildings, 976 households) in one request.

Run it against a PostgreSQL database of your own (it creates and deletes its own tenant, but
never point it at a database others use):

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE ruihe_bench OWNER ruihe_owner"
    DATABASE_URL=postgresql://ruihe_app@127.0.0.1/ruihe_bench \\
    DATABASE_OWNER_URL=postgresql://ruihe_owner@127.0.0.1/ruihe_bench \\
        .venv/bin/python bench/import_households.py

Options: ``--format xlsx`` (default ``csv``), ``--households N``, ``--buildings N``,
``--limit SECONDS`` (default 2: exit status 1 if the first import is slower).

What it does: migrates the database to the head revision (as ``DATABASE_OWNER_URL``), creates
a throwaway tenant ("bench-…"), its owner with an API token and an empty estate, and generates
a deterministic file (generated data: rooms, areas and owners are made up; the last 4
buildings are 小高层 with lifts, a quarter of the households have a parking space). It then
times with ``time.perf_counter`` the whole ``POST /api/v1/t/<slug>/estates/<id>/imports``
request through the app (in-process WSGI: parsing, checking every row, writing, audit trail,
the commit), after a dry run of the file as the process's first request (one-time warm-up,
timed too), then the re-import of the same file (which must change nothing), prints e.g.

    import 976 households: 0.84 s (re-import: 0.17 s, dry run as the process's first
    request: 0.45 s) [postgresql, csv, 29 buildings, 244 parking spaces]

and deletes everything it created (as the owner: the app role may not delete audit events).
Without ``DATABASE_URL`` it runs on the development SQLite file (not what the 2 s target
is about).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from ruihe_saas import create_app  # noqa: E402

HEADER = ["楼栋", "楼层数", "电梯", "楼栋类型", "单元", "房号", "楼层", "面积", "入住状态",
          "业主", "电话", "类别", "车位"]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
CATEGORIES = ["普通"] * 17 + ["低保", "独居老人", "残疾"]
OCCUPANCY = ["自住"] * 8 + ["出租", "空置"]


def generate_rows(households: int = 976, buildings: int = 29) -> list[list[str]]:
    """Deterministic rows: households spread over the buildings, 2 units, 3 rooms a floor."""
    rows = []
    for i in range(households):
        b, n = i % buildings + 1, i // buildings
        unit, k = n % 2 + 1, n // 2
        floor, room = k // 3 + 1, k % 3 + 1
        high = b > buildings - 4
        floors = 11 if high else 7
        if floor > floors:
            raise SystemExit("too many households for the buildings: raise --buildings")
        rows.append(
            [
                f"{b}栋",
                str(floors),
                "有" if high else "无",
                "小高层" if high else "多层",
                str(unit),
                f"{floor}0{room}",
                str(floor),
                f"{55 + (i * 37) % 70}.{(i * 13) % 100:02d}",
                OCCUPANCY[i % len(OCCUPANCY)],
                f"{SURNAMES[i % len(SURNAMES)]}某{i}",
                f"138{i:08d}",
                CATEGORIES[i % len(CATEGORIES)],
                f"P{i:04d}" if i % 4 == 0 else "",
            ]
        )
    return rows


def file_bytes(rows: list[list[str]], fmt: str) -> tuple[str, bytes]:
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "房屋"
        sheet.append(HEADER)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        return "households.xlsx", buffer.getvalue()
    import csv

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return "households.csv", buffer.getvalue().encode("gb18030")  # as Excel saves it in China


def set_up(app) -> dict:
    """A throwaway tenant, its owner (with an API token) and an empty estate, committed."""
    from ruihe_saas.auth.models import Membership, Role, User
    from ruihe_saas.auth.services import issue_token
    from ruihe_saas.estates import services as estates
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy import tenant_context
    from ruihe_saas.tenancy.models import Tenant

    tag = uuid.uuid4().hex[:8]
    tenant = Tenant(slug=f"bench-{tag}", name="基准测试物业")
    user = User(email=f"bench-{tag}@example.invalid", name="bench", password_hash="!")
    db.session.add_all([tenant, user])
    db.session.flush()
    with tenant_context(tenant.id):
        db.session.add(Membership(user_id=user.id, role=Role.OWNER))
        estates.ensure_default_categories()
        estate = estates.create_estate({"name": "模二厂生活小区（基准）", "code": f"B{tag}"})
        token = issue_token(user, days=1)
        facts = {
            "tenant_id": tenant.id,
            "user_id": user.id,
            "slug": tenant.slug,
            "estate_id": estate.id,
            "token": token,
        }
        db.session.commit()
    return facts


def clean_up(app, facts: dict) -> None:
    """Delete the tenant's rows, its user and token, as the schema owner."""
    from ruihe_saas.extensions import db

    engine = create_engine(app.config["DATABASE_OWNER_URL"])
    tenant_id = str(facts["tenant_id"])
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":  # forced row-level security
                connection.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": tenant_id}
                )
            for table in reversed(db.metadata.sorted_tables):
                if "tenant_id" in table.c:
                    connection.execute(
                        table.delete().where(table.c.tenant_id == facts["tenant_id"])
                    )
            tables = db.metadata.tables
            connection.execute(
                tables["api_tokens"]
                .delete()
                .where(tables["api_tokens"].c.user_id == facts["user_id"])
            )
            connection.execute(
                tables["users"].delete().where(tables["users"].c.id == facts["user_id"])
            )
            connection.execute(
                tables["tenants"].delete().where(tables["tenants"].c.id == facts["tenant_id"])
            )
    finally:
        engine.dispose()


def timed_import(client, facts: dict, name: str, data: bytes, **form) -> tuple[float, dict]:
    url = f"/api/v1/t/{facts['slug']}/estates/{facts['estate_id']}/imports"
    started = time.perf_counter()
    response = client.post(
        url,
        data={"file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {facts['token']}"},
    )
    elapsed = time.perf_counter() - started
    if response.status_code not in (200, 201):
        raise SystemExit(f"import failed: {response.status_code} {response.get_data(as_text=True)}")
    return elapsed, response.get_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=976)
    parser.add_argument("--buildings", type=int, default=29)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--limit", type=float, default=2.0, help="seconds allowed (exit 1 above)")
    args = parser.parse_args(argv)

    name, data = file_bytes(generate_rows(args.households, args.buildings), args.format)
    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade

        from ruihe_saas.extensions import db

        upgrade()
        backend = db.engine.dialect.name
        facts = set_up(app)
        try:
            client = app.test_client()
            # The process's first request pays one-time costs (imports, mapper set-up, SQL
            # compilation): a dry run of the same file (it writes nothing) warms it up.
            dry, _counts = timed_import(client, facts, name, data, dry_run="true")
            first, result = timed_import(client, facts, name, data)
            assert result["households"]["created"] == args.households, result
            again, repeat = timed_import(client, facts, name, data)
            assert repeat["households"]["unchanged"] == args.households, repeat
            assert repeat["buildings"]["created"] == repeat["buildings"]["updated"] == 0, repeat
        finally:
            db.session.remove()
            clean_up(app, facts)
    print(
        f"import {args.households} households: {first:.2f} s (re-import: {again:.2f} s, "
        f"dry run as the process's first request: {dry:.2f} s) "
        f"[{backend}, {args.format}, {result['buildings']['created']} buildings, "
        f"{result['parking_spaces']['created']} parking spaces]"
    )
    return 0 if first <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
