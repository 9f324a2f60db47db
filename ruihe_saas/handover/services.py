"""The handover lifecycle: dated transitions between stages, each with its evidence.

``prospect → partial_caretaking → full_takeover → terminated`` (also ``prospect →
full_takeover`` and ``partial_caretaking → terminated``). Rules, all enforced here (with
the checks of ``rules`` and ``art278``, which need no database):

- a move outside ``ALLOWED_MOVES`` is a ``Conflict`` (409);
- each move needs its evidence (``ValidationFailed``, 422, with field errors): a caretaking
  agreement (to partial caretaking), an owners' vote passing art. 278 of the Civil Code and a
  complete handover checklist (to full takeover), an acknowledged settlement summary (to
  terminated);
- effective dates never go back: a new record (advance or reversal) is dated on or after the
  latest record of the history (409 otherwise), so the history reads the same in recording
  and in date order, and the stage on any date is well defined;
- records are never edited or deleted: only the latest advance still in effect can be
  reversed, by a new dated ``REVERSAL`` record with a reason.

``Estate.stage`` / ``Estate.stage_since`` are a cache of the history, written only here, in
the same flush as the record (``derived_stage`` recomputes them from the history). Every
operation validates everything first and then writes in one flush; the estate row is locked
(``SELECT … FOR UPDATE`` on PostgreSQL) so two concurrent transitions of an estate queue up.
Services flush, never commit.

The rest of the feature: ``rules`` (allowed moves, evidence checks, field limits, labels),
``art278`` (the vote arithmetic), ``checklists`` (the tenant's checklist template) and
``settlement`` (what an exit must settle).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.handover.art278 import (
    ART278_ARGS,
    ART278_LABELS,  # noqa: F401  (views.py reads services.ART278_LABELS)
    art278_errors,
    art278_result,
)
from ruihe_saas.handover.checklists import (
    DEFAULT_CHECKLIST,  # noqa: F401  (the tests read services.DEFAULT_CHECKLIST)
    checklist_template,
    ensure_default_checklist_template,  # noqa: F401  (the tests use it from here)
)
from ruihe_saas.handover.models import (
    CaretakingAgreement,
    HandoverChecklistItem,
    HandoverTransition,
    OwnersVote,
    TransitionKind,
)
from ruihe_saas.handover.rules import (
    ALLOWED_MOVES,
    MAX_NOTE,
    STAGE_LABELS,
    FieldErrors,
    Stage,
    as_date,
    check_agreement,
    check_checklist,
    check_vote,
    clean_text,
)
from ruihe_saas.handover.settlement import settlement_summary
from ruihe_saas.ids import new_id
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate


def local_today() -> date:
    """Today where the tenant works (``BABEL_DEFAULT_TIMEZONE``, Asia/Shanghai)."""
    zone = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"
    return datetime.now(ZoneInfo(zone)).date()


# --- history -------------------------------------------------------------------------------


def _history(estate: Estate) -> list[HandoverTransition]:
    """Every record of the estate, in recording order (= date order: dates never go back)."""
    return list(
        db.session.scalars(
            select(HandoverTransition)
            .where(HandoverTransition.estate_id == estate.id)
            .order_by(HandoverTransition.effective_date, HandoverTransition.id)
        )
    )


def _replay(history: list[HandoverTransition]) -> tuple[HandoverStage, date | None]:
    stage, since = Stage.PROSPECT, None
    for record in history:
        stage, since = record.to_stage, record.effective_date
    return stage, since


def derived_stage(estate: Estate) -> tuple[HandoverStage, date | None]:
    """The estate's stage and since when, computed from its history (what the
    ``Estate.stage`` / ``stage_since`` cache must hold)."""
    return _replay(_history(estate))


def stage_timeline(estate: Estate) -> list[tuple[date, HandoverStage]]:
    """``(effective date, stage from that day on)`` for each record, oldest first (a later
    record of the same day wins); before the first record the estate is a prospect.
    Billing prorates lines with it."""
    return [(record.effective_date, record.to_stage) for record in _history(estate)]


def latest_reversible(history: list[HandoverTransition]) -> HandoverTransition | None:
    """The latest advance still in effect (not reversed): the only one that can be reversed."""
    reversed_ids = {r.reverses_id for r in history if r.reverses_id is not None}
    for record in reversed(history):
        if record.kind == TransitionKind.ADVANCE and record.id not in reversed_ids:
            return record
    return None


def _attach_details(estate: Estate, records: list[HandoverTransition]) -> None:
    """Give each record its evidence and context, for templates and schemas:
    ``agreement``, ``vote`` (with ``vote.art278``), ``checklist``, ``reversed_by`` /
    ``reversed_by_id``, ``recorder`` / ``recorded_by_name``."""
    from ruihe_saas.auth.models import User

    if not records:
        return
    ids = [record.id for record in records]
    agreements = {
        a.transition_id: a
        for a in db.session.scalars(
            select(CaretakingAgreement).where(
                CaretakingAgreement.estate_id == estate.id,
                CaretakingAgreement.transition_id.in_(ids),
            )
        )
    }
    votes = {
        v.transition_id: v
        for v in db.session.scalars(
            select(OwnersVote).where(
                OwnersVote.estate_id == estate.id, OwnersVote.transition_id.in_(ids)
            )
        )
    }
    checklists: dict[uuid.UUID, list[HandoverChecklistItem]] = {}
    for item in db.session.scalars(
        select(HandoverChecklistItem)
        .where(
            HandoverChecklistItem.estate_id == estate.id,
            HandoverChecklistItem.transition_id.in_(ids),
        )
        .order_by(HandoverChecklistItem.position)
    ):
        checklists.setdefault(item.transition_id, []).append(item)
    reversals = {
        r.reverses_id: r
        for r in db.session.scalars(
            select(HandoverTransition).where(
                HandoverTransition.estate_id == estate.id,
                HandoverTransition.reverses_id.in_(ids),
            )
        )
    }
    user_ids = {record.recorded_by for record in records if record.recorded_by}
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    for record in records:
        _attach(
            record,
            agreement=agreements.get(record.id),
            vote=votes.get(record.id),
            checklist=checklists.get(record.id, []),
            reversed_by=reversals.get(record.id),
            recorder=users.get(record.recorded_by),
        )


def _attach(record, *, agreement, vote, checklist, reversed_by, recorder) -> None:
    if vote is not None:
        vote.art278 = art278_result(
            vote.total_owners,
            vote.total_area,
            vote.participating_owners,
            vote.participating_area,
            vote.approving_owners,
            vote.approving_area,
        )
    record.agreement = agreement
    record.vote = vote
    record.checklist = checklist
    record.reversed_by = reversed_by
    record.reversed_by_id = reversed_by.id if reversed_by is not None else None
    record.recorder = recorder
    record.recorded_by_name = (recorder.name or recorder.email) if recorder else None


def transitions_of(estate: Estate) -> list[HandoverTransition]:
    """The estate's history, oldest first, each record with its evidence attached."""
    history = _history(estate)
    _attach_details(estate, history)
    return history


def list_transitions(estate: Estate, page: int = 1, per_page: int = 20) -> Page:
    """A page of the history, oldest first, with evidence."""
    statement = (
        select(HandoverTransition)
        .where(HandoverTransition.estate_id == estate.id)
        .order_by(HandoverTransition.effective_date, HandoverTransition.id)
    )
    result = paginate(statement, page, per_page)
    _attach_details(estate, result.items)
    return result


def get_transition(estate: Estate, transition_id: uuid.UUID) -> HandoverTransition:
    record = get_owned(HandoverTransition, transition_id)
    if record is None or record.estate_id != estate.id:
        raise NotFound(_l("Transition not found."))
    _attach_details(estate, [record])
    return record


# --- recording -----------------------------------------------------------------------------


def _lock(estate: Estate) -> None:
    """Serialise transitions of one estate (PostgreSQL row lock; SQLite locks on write)."""
    db.session.execute(select(Estate.id).where(Estate.id == estate.id).with_for_update())


def _check_date(effective_date, history: list[HandoverTransition], errors: FieldErrors) -> date:
    """The effective date, or a 409 if it goes back before the latest record."""
    if isinstance(effective_date, datetime):
        effective_date = effective_date.date()
    if not isinstance(effective_date, date):
        checked = as_date(effective_date, "effective_date", errors)
        if checked is None:
            raise ValidationFailed(_l("The transition has invalid fields."), fields=dict(errors))
        effective_date = checked
    if history and effective_date < history[-1].effective_date:
        last = history[-1].effective_date.isoformat()
        raise Conflict(
            _l("Back-dating is allowed only after the last transition (%(date)s).", date=last),
            fields={
                "effective_date": [
                    _l("Must be on or after %(date)s, the date of the last transition.", date=last)
                ]
            },
        )
    if effective_date > local_today():
        errors.add("effective_date", _l("Cannot be in the future."))
    return effective_date


def _stage(value) -> HandoverStage:
    try:
        return HandoverStage(value)
    except ValueError:
        raise ValidationFailed(
            _l("Unknown stage."), fields={"to_stage": [_l("Unknown stage.")]}
        ) from None


def record_transition(
    estate: Estate,
    to_stage: HandoverStage | str,
    effective_date: date,
    *,
    note: str = "",
    agreement: dict | None = None,
    vote: dict | None = None,
    checklist: list[dict] | None = None,
    settlement_acknowledged: bool = False,
) -> HandoverTransition:
    """Move the estate to ``to_stage`` from ``effective_date``, with the move's evidence.

    - to partial caretaking: ``agreement`` = ``{"counterparty", "services": [...],
      "start_date", "term_months", "notes"?}``;
    - to full takeover: ``vote`` = ``{"meeting_date", "total_owners", "total_area",
      "participating_owners", "participating_area", "approving_owners", "approving_area"}``
      passing art. 278, and ``checklist`` = ``[{"title", "status", "responsible"?,
      "due_date"?, "note"?}]`` covering the tenant's template with no open item;
    - to terminated: ``settlement_acknowledged=True`` (the summary is kept with the record).

    Evidence a move does not use is refused rather than silently dropped. Raises
    ``Conflict`` (illegal move, back-dating) or ``ValidationFailed`` (evidence, fields)
    before writing anything."""
    target = _stage(to_stage)
    for name, value, kind in (
        ("agreement", agreement, dict),
        ("vote", vote, dict),
        ("checklist", checklist, list),
    ):
        if value is not None and not isinstance(value, kind):
            raise ValidationFailed(
                _l("The transition has invalid fields."), fields={name: [_l("Malformed.")]}
            )
    _lock(estate)
    history = _history(estate)
    current, _since = _replay(history)
    if target not in ALLOWED_MOVES[current]:
        raise Conflict(
            _l(
                "An estate cannot move from %(current)s to %(target)s.",
                current=STAGE_LABELS[current],
                target=STAGE_LABELS[target],
            ),
            fields={"to_stage": [_l("Not allowed from the current stage.")]},
        )
    errors = FieldErrors()
    effective_date = _check_date(effective_date, history, errors)
    note = clean_text(note)
    if len(note) > MAX_NOTE:
        errors.add("note", _l("At most %(n)s characters.", n=MAX_NOTE))

    transition_id = new_id()
    evidence: list = []
    settlement = None
    unused = _l("Not used for a move to this stage.")
    if target == Stage.PARTIAL_CARETAKING:
        if agreement is None:
            errors.add("agreement", _l("A caretaking agreement is required."))
        else:
            cleaned, agreement_errors = check_agreement(agreement)
            if agreement_errors:
                errors["agreement"] = dict(agreement_errors)
            else:
                evidence.append(
                    CaretakingAgreement(estate_id=estate.id, transition_id=transition_id, **cleaned)
                )
    elif agreement is not None:
        errors.add("agreement", unused)

    if target == Stage.FULL_TAKEOVER:
        evidence += _takeover_evidence(
            estate, transition_id, effective_date, vote, checklist, errors
        )
    else:
        if vote is not None:
            errors.add("vote", unused)
        if checklist is not None:
            errors.add("checklist", unused)

    if target == Stage.TERMINATED:
        if not settlement_acknowledged:
            errors.add(
                "settlement_acknowledged",
                _l(
                    "Acknowledge the settlement summary (open bills, prepayments, carried-over "
                    "items) to terminate."
                ),
            )
        settlement = settlement_summary(estate)

    if errors:
        if set(errors) == {"vote", "vote_ratios"}:
            message = _l("The owners' vote does not pass art. 278 of the Civil Code.")
        else:
            message = _l("The transition lacks evidence or has invalid fields.")
        raise ValidationFailed(message, fields=dict(errors))

    transition = HandoverTransition(
        id=transition_id,
        estate_id=estate.id,
        kind=TransitionKind.ADVANCE,
        from_stage=current,
        to_stage=target,
        effective_date=effective_date,
        note=note,
        settlement=settlement,
        recorded_by=current_actor_user_id(),
    )
    db.session.add(transition)
    db.session.flush()  # the transition first: its evidence references it
    db.session.add_all(evidence)
    estate.stage, estate.stage_since = target, effective_date
    db.session.flush()
    _attach_details(estate, [transition])
    return transition


def _takeover_evidence(
    estate: Estate,
    transition_id: uuid.UUID,
    effective_date: date,
    vote: dict | None,
    checklist: list[dict] | None,
    errors: FieldErrors,
) -> list:
    evidence: list = []
    if vote is None:
        errors.add("vote", _l("The owners' vote of the mobilisation meeting is required."))
    else:
        cleaned, vote_errors = check_vote(vote, effective_date)
        if vote_errors:
            errors["vote"] = dict(vote_errors)
        else:
            result = art278_result(*(cleaned[name] for name in ART278_ARGS))
            if not result.passed:
                errors["vote"] = art278_errors(result)
                errors["vote_ratios"] = result.percents
            else:
                evidence.append(
                    OwnersVote(
                        estate_id=estate.id, transition_id=transition_id, passed=True, **cleaned
                    )
                )
    if checklist is None:
        errors.add("checklist", _l("The handover checklist is required."))
    else:
        template = [item.title for item in checklist_template()]
        cleaned_items, checklist_errors = check_checklist(list(checklist), template)
        if checklist_errors:
            errors["checklist"] = checklist_errors
        else:
            evidence += [
                HandoverChecklistItem(estate_id=estate.id, transition_id=transition_id, **item)
                for item in cleaned_items
            ]
    return evidence


def reverse_transition(
    estate: Estate, transition_id: uuid.UUID, effective_date: date, reason: str
) -> HandoverTransition:
    """Undo the latest advance still in effect with a dated ``REVERSAL`` record (the
    reversed record stays as it was). Raises ``NotFound`` (not this estate's transition),
    ``Conflict`` (a reversal, already reversed, not the latest, back-dated) or
    ``ValidationFailed`` (no reason)."""
    _lock(estate)
    target = get_owned(HandoverTransition, transition_id)
    if target is None or target.estate_id != estate.id:
        raise NotFound(_l("Transition not found."))
    history = _history(estate)
    current, _since = _replay(history)
    if target.kind != TransitionKind.ADVANCE:
        raise Conflict(
            _l("A reversal cannot be reversed."),
            fields={"reverses_id": [_l("A reversal cannot be reversed.")]},
        )
    if any(record.reverses_id == target.id for record in history):
        raise Conflict(
            _l("This transition is already reversed."),
            fields={"reverses_id": [_l("Already reversed.")]},
        )
    latest = latest_reversible(history)
    if latest is None or latest.id != target.id:
        raise Conflict(
            _l("Only the latest transition in effect can be reversed."),
            fields={"reverses_id": [_l("Only the latest transition in effect can be reversed.")]},
        )
    errors = FieldErrors()
    effective_date = _check_date(effective_date, history, errors)
    reason = clean_text(reason)
    if not reason:
        errors.add("reason", _l("Give the reason for the reversal."))
    elif len(reason) > MAX_NOTE:
        errors.add("reason", _l("At most %(n)s characters.", n=MAX_NOTE))
    if errors:
        raise ValidationFailed(_l("The reversal has invalid fields."), fields=dict(errors))
    reversal = HandoverTransition(
        estate_id=estate.id,
        kind=TransitionKind.REVERSAL,
        from_stage=current,
        to_stage=target.from_stage,
        effective_date=effective_date,
        note=reason,
        reverses_id=target.id,
        recorded_by=current_actor_user_id(),
    )
    db.session.add(reversal)
    estate.stage, estate.stage_since = target.from_stage, effective_date
    db.session.flush()
    _attach_details(estate, [reversal, target])
    return reversal
