"""``GET /api/v1/t/<slug>/jobs/<id>``: a tenant's own job (404 for any other tenant's)."""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.jobs import services
from ruihe_saas.jobs.schemas import JobSchema
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint

blp = tenant_api_blueprint("jobs_api", __name__, "/jobs", description="Background jobs")


@blp.get("/<uuid:job_id>")
@blp.response(200, JobSchema)
@require_permission(Permission.VIEW_JOBS)
def get_job(job_id: uuid.UUID):
    """Status and progress of one of the tenant's jobs."""
    return services.job_state(services.get_job(job_id))
