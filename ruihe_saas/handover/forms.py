"""Handover forms: one per move (caretaking agreement, takeover vote + checklist,
termination), and the reversal. WTForms checks types; the service checks the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ruihe_saas.handover.art278 import ART278_ARGS
from ruihe_saas.handover.models import ChecklistStatus
from ruihe_saas.handover.rules import (
    CHECKLIST_STATUS_LABELS,
    MAX_AREA,
    MAX_CHECKLIST_ITEMS,
    MAX_COUNTERPARTY,
    MAX_ITEM_NOTE,
    MAX_NOTE,
    MAX_OWNERS,
    MAX_RESPONSIBLE,
    MAX_TITLE,
    SERVICE_LABELS,
)

REQUIRED = _l("Required.")


def _date(label):
    return DateField(label, validators=[InputRequired(message=REQUIRED)])


def _note(label=None):
    return TextAreaField(label or _l("Note"), validators=[Optional(), Length(max=MAX_NOTE)])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def service_choices():
    return [(service.value, label) for service, label in SERVICE_LABELS.items()]


def status_choices():
    return [(status.value, label) for status, label in CHECKLIST_STATUS_LABELS.items()]


class CaretakingForm(FlaskForm):
    """To partial caretaking: the caretaking agreement."""

    effective_date = _date(_l("Effective date"))
    counterparty = StringField(
        _l("Counterparty"),
        validators=[InputRequired(message=REQUIRED), Length(max=MAX_COUNTERPARTY)],
        description=_l("Usually the estate's competent unit."),
    )
    services = MultiCheckboxField(_l("Services in scope"), choices=service_choices)
    start_date = _date(_l("Agreement starts"))
    term_months = IntegerField(
        _l("Term (months)"),
        validators=[InputRequired(message=REQUIRED), NumberRange(min=1, max=600)],
    )
    notes = _note(_l("Agreement notes"))
    note = _note()

    def evidence(self) -> dict:
        return {
            "counterparty": self.counterparty.data,
            "services": list(self.services.data or []),
            "start_date": self.start_date.data,
            "term_months": self.term_months.data,
            "notes": self.notes.data or "",
        }


class ChecklistRowForm(Form):
    """One checklist row (a sub-form: the page's form carries the CSRF token)."""

    title = HiddenField(validators=[InputRequired(message=REQUIRED), Length(max=MAX_TITLE)])
    status = SelectField(_l("Status"), choices=status_choices, default=ChecklistStatus.OPEN.value)
    responsible = StringField(
        _l("Responsible"), validators=[Optional(), Length(max=MAX_RESPONSIBLE)]
    )
    due_date = DateField(_l("Due date"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=MAX_ITEM_NOTE)])


def _owners(label):
    return IntegerField(
        label, validators=[InputRequired(message=REQUIRED), NumberRange(min=0, max=MAX_OWNERS)]
    )


def _area(label):
    return DecimalField(
        label,
        places=2,
        validators=[InputRequired(message=REQUIRED), NumberRange(min=0, max=MAX_AREA)],
    )


class TakeoverForm(FlaskForm):
    """To full takeover: the mobilisation meeting's vote and the handover checklist."""

    effective_date = _date(_l("Effective date"))
    meeting_date = _date(_l("Meeting date"))
    total_owners = _owners(_l("Owners of the estate"))
    total_area = _area(_l("Floor area of the estate (m²)"))
    participating_owners = _owners(_l("Participating owners"))
    participating_area = _area(_l("Participating area (m²)"))
    approving_owners = _owners(_l("Approving owners"))
    approving_area = _area(_l("Approving area (m²)"))
    checklist = FieldList(FormField(ChecklistRowForm), max_entries=MAX_CHECKLIST_ITEMS)
    note = _note()

    VOTE_FIELDS = ("meeting_date", *ART278_ARGS)

    def vote(self) -> dict:
        return {name: getattr(self, name).data for name in self.VOTE_FIELDS}

    def checklist_items(self) -> list[dict]:
        return [
            {
                "title": row.form.title.data,
                "status": row.form.status.data,
                "responsible": row.form.responsible.data or "",
                "due_date": row.form.due_date.data,
                "note": row.form.note.data or "",
            }
            for row in self.checklist
        ]


class TerminationForm(FlaskForm):
    """To terminated: the settlement summary, acknowledged."""

    effective_date = _date(_l("Effective date"))
    settlement_acknowledged = BooleanField(
        _l("I have read the settlement summary and acknowledge it.")
    )
    note = _note()


class ReversalForm(FlaskForm):
    """Reverse the latest transition in effect."""

    reverses_id = HiddenField(validators=[InputRequired(message=REQUIRED)])
    effective_date = _date(_l("Effective date"))
    reason = TextAreaField(
        _l("Reason"), validators=[InputRequired(message=REQUIRED), Length(max=MAX_NOTE)]
    )
