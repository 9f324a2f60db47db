"""Fee schedules, fee items, adjustments, meter readings, occupancy changes: JSON API.

- ``GET/POST /estates/<id>/fee-schedules``: every version (newest lineage and version
  first; ``?in_force_on=`` the versions in force that day), or a new schedule with items;
- ``GET /fee-schedules/<id>`` (with items), ``POST /fee-schedules/<id>/revisions`` (a new
  version; 409 for an old version or a start in a billed period), ``POST
  /fee-schedules/<id>/copies`` (to another estate; ``dropped`` lists what was left out);
- ``GET/POST /estates/<id>/fee-adjustments``, ``POST /fee-adjustments/<id>/end``;
- ``GET/POST /estates/<id>/shared-meters``, ``GET/POST /estates/<id>/shared-meter-readings``;
- ``GET/POST /estates/<id>/meter-readings``, ``POST /estates/<id>/meter-readings/import``
  (multipart ``file``, all or nothing);
- ``GET/POST /households/<id>/occupancy-changes``; ``GET
  /households/<id>/prepayment-quote?months=``.

422 lists bad values by field (items: ``items.<n>.<field>``). Reads need ``VIEW_BILLING``;
schedules, adjustments and shared meters ``MANAGE_FEES``; readings and occupancy changes
``ENTER_READINGS``.
"""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.errors import NotFound
from ruihe_saas.estates import occupancy
from ruihe_saas.estates.models import Household
from ruihe_saas.estates.services import get_estate
from ruihe_saas.fees import readings, services
from ruihe_saas.fees.reading_import import import_readings
from ruihe_saas.fees.schemas import (
    REVISION_PARTIAL,
    AdjustmentEndSchema,
    AdjustmentInputSchema,
    AdjustmentListArgs,
    AdjustmentSchema,
    CopyInputSchema,
    FeeScheduleCopySchema,
    FeeScheduleInputSchema,
    FeeScheduleRevisionSchema,
    FeeScheduleSchema,
    MeterReadingInputSchema,
    MeterReadingSchema,
    OccupancyChangeInputSchema,
    OccupancyChangeSchema,
    PrepaymentQuoteSchema,
    QuoteArgs,
    ReadingImportResultSchema,
    ReadingListArgs,
    ReadingUploadSchema,
    ScheduleListArgs,
    SharedMeterInputSchema,
    SharedMeterReadingInputSchema,
    SharedMeterReadingSchema,
    SharedMeterSchema,
    SharedReadingListArgs,
)
from ruihe_saas.imports.formats import MAX_BYTES
from ruihe_saas.imports.schemas import MultipartParser
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import Page, PageArgs, page_schema, paginate

blp = tenant_api_blueprint(
    "fees_api", __name__, "", description="Fee schedules, fee items, adjustments, meter readings"
)
blp.ARGUMENTS_PARSER = MultipartParser()
WRITE_ERRORS = (400, 409, 422)


# --- fee schedules -----------------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/fee-schedules")
@blp.arguments(ScheduleListArgs, location="query")
@blp.response(200, page_schema(FeeScheduleSchema))
@require_permission(Permission.VIEW_BILLING)
def list_schedules(args, estate_id: uuid.UUID):
    """Every version of the estate's fee schedules with their items: newest lineage first,
    newest version first (``status`` today: current, future, ended, superseded)."""
    estate = get_estate(estate_id)
    if args["in_force_on"] is not None:
        found = services.schedules_in_force(estate, args["in_force_on"])
        page = Page(found, len(found), 1, max(len(found), 1))
    else:
        page = paginate(services.schedules_statement(estate), args["page"], args["per_page"])
    services.with_items(page.items)
    return page


@blp.post("/estates/<uuid:estate_id>/fee-schedules")
@blp.arguments(FeeScheduleInputSchema)
@blp.response(201, FeeScheduleSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def create_schedule(data, estate_id: uuid.UUID):
    """A new fee schedule (version 1) with its items. Per charge kind: ``per_area``,
    ``fixed``, ``per_parking_space`` need ``rate``; ``metered`` also ``meter_kind``;
    ``shared_meter`` a ``shared_meter_id`` of this estate and ``split_basis``; ``one_off``
    a ``charge_period`` and ``household_ids``."""
    schedule = services.create_schedule(get_estate(estate_id), data)
    return services.with_items([schedule])[0]


@blp.get("/fee-schedules/<uuid:schedule_id>")
@blp.response(200, FeeScheduleSchema)
@require_permission(Permission.VIEW_BILLING)
def get_schedule(schedule_id: uuid.UUID):
    return services.with_items([services.get_schedule(schedule_id)])[0]


@blp.post("/fee-schedules/<uuid:schedule_id>/revisions")
@blp.arguments(FeeScheduleRevisionSchema(partial=REVISION_PARTIAL))
@blp.response(201, FeeScheduleSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def revise_schedule(data, schedule_id: uuid.UUID):
    """A new version from ``effective_from`` on: fields left out keep this version's values
    (``items`` left out: copied; ``effective_to`` left out: open-ended). Earlier versions
    are closed the day before, or superseded if they start on or after that day. 409: not
    the latest version, or ``effective_from`` in or before a billed period."""
    return services.with_items([services.revise_schedule(schedule_id, data)])[0]


@blp.post("/fee-schedules/<uuid:schedule_id>/copies")
@blp.arguments(CopyInputSchema)
@blp.response(201, FeeScheduleCopySchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def copy_schedule(data, schedule_id: uuid.UUID):
    """Copy the schedule to another estate of the tenant (version 1 there). Building filters,
    one-off items and shared-meter items point at this estate's rows: they are left out and
    listed in ``dropped``."""
    result = services.copy_schedule(
        schedule_id, data["estate_id"], data["effective_from"], data.get("name")
    )
    schedule = services.with_items([result.schedule])[0]
    schedule.dropped = [d.as_dict() for d in result.dropped]
    return schedule


# --- adjustments -------------------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/fee-adjustments")
@blp.arguments(AdjustmentListArgs, location="query")
@blp.response(200, page_schema(AdjustmentSchema))
@require_permission(Permission.VIEW_BILLING)
def list_adjustments(args, estate_id: uuid.UUID):
    """Adjustments (减免), newest first; ``household_id``: the household's own and its
    category's; ``active_on``: valid that day."""
    return services.list_adjustments(
        get_estate(estate_id),
        args["page"],
        args["per_page"],
        household_id=args["household_id"],
        active_on=args["active_on"],
    )


@blp.post("/estates/<uuid:estate_id>/fee-adjustments")
@blp.arguments(AdjustmentInputSchema)
@blp.response(201, AdjustmentSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def create_adjustment(data, estate_id: uuid.UUID):
    """A discount or exemption for a household (``household_id``) or a household category
    (``category``): ``percent`` (0 < value ≤ 100) or ``fixed`` (元 per month), with a
    ``reason`` and validity dates; ``fee_item_code`` limits it to one item."""
    return services.create_adjustment(get_estate(estate_id), data)


@blp.post("/fee-adjustments/<uuid:adjustment_id>/end")
@blp.arguments(AdjustmentEndSchema)
@blp.response(200, AdjustmentSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def end_adjustment(data, adjustment_id: uuid.UUID):
    """End the adjustment on ``valid_to`` (default today): earlier than planned, never later."""
    return services.end_adjustment(adjustment_id, data.get("valid_to"))


# --- shared meters -------------------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/shared-meters")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(SharedMeterSchema))
@require_permission(Permission.VIEW_BILLING)
def list_shared_meters(args, estate_id: uuid.UUID):
    return services.list_shared_meters(get_estate(estate_id), args["page"], args["per_page"])


@blp.post("/estates/<uuid:estate_id>/shared-meters")
@blp.arguments(SharedMeterInputSchema)
@blp.response(201, SharedMeterSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_FEES)
def create_shared_meter(data, estate_id: uuid.UUID):
    """A shared meter (公摊表) for the whole estate, a building (``building_id``) or one unit
    of a building (``unit``)."""
    return services.create_shared_meter(get_estate(estate_id), data)


@blp.get("/estates/<uuid:estate_id>/shared-meter-readings")
@blp.arguments(SharedReadingListArgs, location="query")
@blp.response(200, page_schema(SharedMeterReadingSchema))
@require_permission(Permission.VIEW_BILLING)
def list_shared_readings(args, estate_id: uuid.UUID):
    return readings.list_shared_readings(
        get_estate(estate_id),
        args["page"],
        args["per_page"],
        period=args["period"],
        shared_meter_id=args["shared_meter_id"],
    )


@blp.post("/estates/<uuid:estate_id>/shared-meter-readings")
@blp.arguments(SharedMeterReadingInputSchema)
@blp.response(201, SharedMeterReadingSchema)
@blp.alt_response(200, schema=SharedMeterReadingSchema, description="Replaced.", success=True)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.ENTER_READINGS)
def record_shared_reading(data, estate_id: uuid.UUID):
    """A shared meter's reading for a period (same rules as household readings)."""
    reading = readings.record_shared_reading(get_estate(estate_id), data)
    return reading, 200 if reading.replaced else 201


# --- household meter readings --------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/meter-readings")
@blp.arguments(ReadingListArgs, location="query")
@blp.response(200, page_schema(MeterReadingSchema))
@require_permission(Permission.VIEW_BILLING)
def list_readings(args, estate_id: uuid.UUID):
    """Household meter readings, newest period first; filter by ``period``,
    ``household_id``, ``meter_kind``."""
    return readings.list_readings(
        get_estate(estate_id),
        args["page"],
        args["per_page"],
        period=args["period"],
        household_id=args["household_id"],
        meter_kind=args["meter_kind"],
    )


@blp.post("/estates/<uuid:estate_id>/meter-readings")
@blp.arguments(MeterReadingInputSchema)
@blp.response(201, MeterReadingSchema)
@blp.alt_response(200, schema=MeterReadingSchema, description="Replaced.", success=True)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.ENTER_READINGS)
def record_reading(data, estate_id: uuid.UUID):
    """A household meter's reading for a period. ``previous_reading`` defaults to the
    meter's last reading; going backwards is refused unless ``is_replacement`` (then
    ``previous_reading`` is the new meter's start, default 0). Re-entering a period replaces
    its reading (200) unless it is billed (409)."""
    reading = readings.record_reading(get_estate(estate_id), data)
    return reading, 200 if reading.replaced else 201


@blp.post("/estates/<uuid:estate_id>/meter-readings/import")
@blp.arguments(ReadingUploadSchema, location="files")
@blp.response(200, ReadingImportResultSchema)
@errors(blp, 400, 413, 422)
@require_permission(Permission.ENTER_READINGS)
def import_meter_readings(data, estate_id: uuid.UUID):
    """Import readings from an .xlsx/.csv file (multipart ``file``): all or nothing; a bad
    row → 422 with ``fields.rows`` = ``[{row, column, message}]``."""
    estate = get_estate(estate_id)
    upload = data["file"]
    return import_readings(estate, upload.filename, upload.read(MAX_BYTES + 1)).as_dict()


# --- households: occupancy changes, prepayment quote ---------------------------------------------


def _household(household_id: uuid.UUID) -> Household:
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return household


@blp.get("/households/<uuid:household_id>/occupancy-changes")
@blp.response(200, OccupancyChangeSchema(many=True))
@require_permission(Permission.VIEW_BILLING)
def list_occupancy_changes(household_id: uuid.UUID):
    """The household's occupancy changes, oldest first."""
    return occupancy.occupancy_history(_household(household_id))


@blp.post("/households/<uuid:household_id>/occupancy-changes")
@blp.arguments(OccupancyChangeInputSchema)
@blp.response(201, OccupancyChangeSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.ENTER_READINGS)
def change_occupancy(data, household_id: uuid.UUID):
    """Record a dated occupancy change (one per day; 409 if the household is already so on
    that day). A change effective by today updates the household's occupancy."""
    return occupancy.change_occupancy(
        _household(household_id), data["to_occupancy"], data["effective_date"]
    )


@blp.get("/households/<uuid:household_id>/prepayment-quote")
@blp.arguments(QuoteArgs, location="query")
@blp.response(200, PrepaymentQuoteSchema)
@require_permission(Permission.VIEW_BILLING)
def prepayment_quote(args, household_id: uuid.UUID):
    """What paying ``months`` ahead costs for the household's monthly items in force today,
    with the schedules' prepayment offers."""
    return services.prepayment_quote(_household(household_id).id, args["months"])
