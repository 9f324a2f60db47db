"""Loading one tenant-owned row by id, within the current tenant and estate scope.

``Session.get`` answers from the identity map without SQL when the object is already loaded,
so the ORM filter cannot see it: the estate scope is checked here instead (the tenant is part
of the primary key, so it needs no check). Every service looks rows up through this.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import in_estate_scope, require_tenant_id
from ruihe_saas.tenancy.models import EstateScoped

T = TypeVar("T")


def get_owned(model: type[T], object_id: uuid.UUID | str) -> T | None:
    try:
        object_id = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        return None
    obj = db.session.get(model, (require_tenant_id(), object_id))
    if obj is not None and isinstance(obj, EstateScoped) and not in_estate_scope(obj.estate_id):
        return None
    return obj
