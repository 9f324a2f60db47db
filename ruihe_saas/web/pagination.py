"""Paginated lists: ``?page=&per_page=`` in, ``{"items", "total", "page", "per_page"}`` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from sqlalchemy import Select, func

from ruihe_saas.extensions import db

MAX_PER_PAGE = 100
MAX_PAGE = 100_000


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    per_page = ma.fields.Integer(
        load_default=20, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE)
    )


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int


def paginate(statement: Select, page: int, per_page: int) -> Page:
    # Pages come from query strings: keep the offset within what every database accepts.
    page = min(max(page, 1), MAX_PAGE)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    count = statement.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    total = db.session.scalar(count)
    items = list(
        db.session.scalars(statement.limit(per_page).offset((page - 1) * per_page)).unique()
    )
    return Page(items=items, total=total or 0, page=page, per_page=per_page)


_page_schemas: dict[type, type] = {}


def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The envelope schema for a page of ``item_schema`` (one class per item schema)."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = type(
            name,
            (ma.Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
                "total": ma.fields.Integer(required=True),
                "page": ma.fields.Integer(required=True),
                "per_page": ma.fields.Integer(required=True),
            },
        )
    return _page_schemas[item_schema]


def requested_page(name: str = "page") -> int:
    """The page number an HTML list was asked for (``?page=``), clamped to 1…MAX_PAGE."""
    from flask import request

    return min(max(request.args.get(name, 1, type=int) or 1, 1), MAX_PAGE)
