"""Declarative tenant definitions (``tenants/<slug>/tenant.toml``), loaded idempotently.

The file's top-level keys describe the tenant; each further section (``[[users]]`` now,
estates and fee schedules in later features) is handled by a loader registered with
``section``. Loading twice changes nothing the second time. See ``tenants/README.md``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import tenant_context
from ruihe_saas.tenancy.models import Tenant, TenantStatus
from ruihe_saas.tenancy.services import create_tenant, find_tenant


@dataclass
class LoadReport:
    tenant: Tenant
    created: bool
    lines: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # demo logins only


SectionLoader = Callable[..., None]  # (entries, report, base_path, *, demo)
_SECTIONS: dict[str, tuple[int, SectionLoader]] = {}


def section(name: str, order: int):
    """Register the loader of a definition section; lower ``order`` loads first."""

    def register(loader: SectionLoader) -> SectionLoader:
        _SECTIONS[name] = (order, loader)
        return loader

    return register


TENANT_KEYS = {"slug", "name", "status", "demo", "receipt_prefix"}


def _read_toml(file: Path) -> dict:
    if not file.is_file():
        raise ValidationFailed(f"No tenant definition at {file}.")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValidationFailed(f"{file}: {error}") from error


def read_definition(path: Path) -> dict:
    """The definition at ``path``, with the sections of its ``include = [...]`` files merged
    in (paths relative to the including file; a list section is appended to)."""
    file = path / "tenant.toml" if path.is_dir() else path
    definition = _read_toml(file)
    includes = definition.pop("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ValidationFailed("include must be a list of file paths.")
    for name in includes:
        part = _read_toml(file.parent / name)
        misplaced = set(part) & (TENANT_KEYS | {"include"})
        if misplaced:
            raise ValidationFailed(
                f"{name}: {', '.join(sorted(misplaced))} belongs in the tenant's own file."
            )
        for key, value in part.items():
            if key not in definition:
                definition[key] = value
            elif isinstance(definition[key], list) and isinstance(value, list):
                definition[key] = definition[key] + value
            else:
                raise ValidationFailed(f"{name}: {key} is defined more than once.")
    return definition


def load_definition(path: Path) -> LoadReport:
    """Create or update the tenant described at ``path``; flushes, never commits."""
    definition = read_definition(path)
    import_section_loaders()
    unknown = set(definition) - TENANT_KEYS - set(_SECTIONS)
    if unknown:
        raise ValidationFailed(f"Unknown keys in tenant definition: {', '.join(sorted(unknown))}")
    tenant = find_tenant(definition.get("slug", ""))
    created = tenant is None
    if created:
        tenant = create_tenant(definition.get("slug", ""), definition.get("name", ""))
    else:
        tenant.name = definition.get("name", tenant.name)
    prefix = str(definition.get("receipt_prefix", tenant.receipt_prefix or "RC"))
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", prefix):
        raise ValidationFailed("receipt_prefix must be 1–8 capital letters or digits, e.g. RH.")
    tenant.receipt_prefix = prefix
    try:
        tenant.status = TenantStatus(definition.get("status", "active"))
    except ValueError:
        statuses = ", ".join(status.value for status in TenantStatus)
        raise ValidationFailed(f"status must be one of {statuses}.") from None
    db.session.flush()
    report = LoadReport(tenant=tenant, created=created)
    report.lines.append(f"tenant {tenant.slug} ({tenant.name}) {'created' if created else 'kept'}")
    base = path if path.is_dir() else path.parent
    with tenant_context(tenant.id):
        for name, (_, loader) in sorted(_SECTIONS.items(), key=lambda item: item[1][0]):
            if name in definition:
                loader(definition[name], report, base, demo=bool(definition.get("demo")))
    return report


def import_section_loaders() -> None:
    """Import every feature that contributes a definition section."""
    import ruihe_saas.auth.definitions  # noqa: F401
    import ruihe_saas.estates.definitions  # noqa: F401
    import ruihe_saas.fees.definitions  # noqa: F401
    import ruihe_saas.ledger.definitions  # noqa: F401
    import ruihe_saas.payments.definitions  # noqa: F401


def secret_value(entry: dict, key: str) -> str | None:
    """``key = "…"`` inline (demo files) or ``key_env = "VAR"`` read from the environment."""
    if entry.get(f"{key}_env"):
        return os.environ.get(entry[f"{key}_env"])
    return entry.get(key)
