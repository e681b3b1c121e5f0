"""The plan file: schema (pydantic), cross-reference checks and a normalised result.

`load_plan(path)` returns a `PlanSpec` or raises `PlanFileError` listing every problem with
file, line, key path and reason. Nothing here touches the database.

Problems that do not refuse the file (a form field that asks for personal data) are
*warnings*: `PlanSpec.warnings`, in the same `file:line: key.path: reason` form.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import typing
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from core import expressions
from core.fields import FIELD_TYPES, field_type
from core.fields import base as fields
from core.fields.base import Option
from core.fields.file import DEFAULT_ACCEPT as DEFAULT_ACCEPT  # re-exported
from core.lateness import SUPPLEMENT_WORKING_DAYS
from core.yamlsource import (
    MAX_BYTES,
    LoadedYaml,
    Path,
    SourceError,
    format_path,
    load_yaml,
    size_error,
)

CODE_RE = r"^[a-z][a-z0-9_-]{0,39}$"
FIELD_CODE_RE = r"^[a-z][a-z0-9_]{0,39}$"
Code = Annotated[str, Field(pattern=CODE_RE)]
FieldCode = Annotated[str, Field(pattern=FIELD_CODE_RE)]
# Members' roles (db.models.Role).
Role = Literal["reporter", "head", "standing_office", "chair", "admin"]
# The levels of an escalation chain. `consolidating` is the agency that receives and
# consolidates the reports (cơ quan tổng hợp); `standing_office` is the committee's standing
# office (Thường trực Ban Chỉ đạo); `external` is a level outside the committee, named by the
# step's `label`. `admin` is no level: a step cannot name it.
EscalationTarget = Literal[
    "reporter", "head", "consolidating", "standing_office", "chair", "external"
]
# Levels that an agency with `escalate: false` is never reported to: it gets its reminders
# and its own overdue notices, and the consolidating agency sees it late, but the plan only
# requests («đề nghị») its reports, so it is not taken to the committee's leadership.
ABOVE_CONSOLIDATING = frozenset({"standing_office", "chair", "external"})
HolidayRule = Literal["next_working_day", "previous_working_day", "keep"]
# Bộ luật Dân sự 2015, art. 148(5): a period whose last day is a weekend day or a public
# holiday ends at the end of the next working day.
DEFAULT_HOLIDAY: HolidayRule = "next_working_day"
SignedFile = Literal["required", "optional", "none"]
# The names of the registered field types (core.fields).
# Built from the registry at import, so mypy cannot read it as a fixed Literal.
FieldType = Literal[tuple(FIELD_TYPES)]  # type: ignore[valid-type]
PeriodType = Literal[
    "monthly", "quarterly", "half_year", "nine_month", "yearly", "one_off", "ad_hoc"
]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class PlanInfo(Strict):
    code: Code
    title: str
    document: str | None = None
    issued_by: str | None = None
    year: int = Field(ge=2000, le=2100)
    starts: dt.date | None = None
    ends: dt.date | None = None

    @model_validator(mode="after")
    def _fill_dates(self) -> PlanInfo:
        self.starts = self.starts or dt.date(self.year, 1, 1)
        self.ends = self.ends or dt.date(self.year, 12, 31)
        if self.ends < self.starts:
            raise ValueError(f"the plan ends ({self.ends}) before it starts ({self.starts})")
        return self


class RoleLabels(Strict):
    """The plan's own words for its roles, used in messages instead of generic names."""

    reporter: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    head: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    consolidating: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    standing_office: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    chair: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    def get(self, role: str) -> str | None:
        return getattr(self, role, None)


class CommitteeInfo(Strict):
    code: Code
    name: str
    # The agency that receives, reviews and consolidates the reports (cơ quan tổng hợp).
    consolidating: Code | None = None
    # The committee's standing office (Thường trực Ban Chỉ đạo) when it is one of the plan's
    # agencies; omitted when the plan does not say which agency it is.
    standing_office: Code | None = None
    labels: RoleLabels = Field(default_factory=RoleLabels)

    @model_validator(mode="after")
    def _roles(self) -> CommitteeInfo:
        if self.consolidating is None:
            if self.standing_office is None:
                raise ValueError(
                    "name the agency that receives and consolidates the reports: "
                    "consolidating: <agency code>"
                )
            # Files written before `consolidating` existed: their standing office was the
            # agency that received the reports.
            self.consolidating = self.standing_office
        return self


class KindInfo(Strict):
    label: str
    # false: agencies of this kind are reminded but not escalated above the consolidating
    # agency (see ABOVE_CONSOLIDATING); an agency's own `escalate` wins.
    escalate: bool = True


def _kind_tag(value: Any) -> str:
    return "info" if isinstance(value, dict) else "label"


KindEntry = Annotated[
    Annotated[str, Tag("label")] | Annotated[KindInfo, Tag("info")],
    Discriminator(_kind_tag),
]


class AgencyItem(Strict):
    code: Code
    name: str
    short: str | None = None
    kind: Code
    parent: Code | None = None
    escalate: bool | None = None  # None: as its kind says


class ListEntry(Strict):
    name: str
    code: Code | None = None
    short: str | None = None


class AgencyGroup(Strict):
    kind: Code
    parent: Code | None = None
    escalate: bool | None = None  # None: as its kind says
    name: str = "{name}"
    short: str | None = None
    code: str | None = None
    # `list` in the file; a field named `list` would shadow the builtin in this class.
    entries: list[ListEntry | str] = Field(alias="list", min_length=1)


def _agency_tag(value: Any) -> str:
    return "group" if isinstance(value, dict) and "list" in value else "single"


AgencyEntry = Annotated[
    Annotated[AgencyItem, Tag("single")] | Annotated[AgencyGroup, Tag("group")],
    Discriminator(_agency_tag),
]


class Subject(Strict):
    code: Code
    name: str
    kind: Code
    agency: Code


class CalendarCfg(Strict):
    holidays: list[dt.date] = []
    working_days: list[dt.date] = []
    quiet_hours: Annotated[str, Field(pattern=r"^\d\d:\d\d-\d\d:\d\d$")] = "21:00-07:00"
    digest_time: HHMM = "08:00"
    working_weekdays: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4]


class EscalationStep(Strict):
    after_days: int = Field(ge=0, le=365)
    to: list[EscalationTarget] = Field(min_length=1)
    # Names the level outside the committee of an `external` step, in the plan's words.
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _targets(self) -> EscalationStep:
        if len(set(self.to)) != len(self.to):
            raise ValueError("a step names each level once")
        if "external" in self.to and self.label is None:
            raise ValueError(
                "an external step needs a label naming that level, e.g. "
                'label: "Phó Chủ tịch UBND Thành phố"'
            )
        if "external" not in self.to and self.label is not None:
            raise ValueError(
                "label names an external level; the committee's own roles are named in "
                "committee.labels"
            )
        return self


class Escalation(Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    repeat_every: int = Field(5, ge=1, le=60)
    rounds: int = Field(5, ge=1, le=50)
    stop_after_plan_days: int = Field(60, ge=0, le=3650)
    # How often leaders' digests may come: daily (at most once a working day, and only when
    # the late reports changed) or weekly. None in the file: daily.
    digest: Literal["daily", "weekly"] | None = None

    @field_validator("steps")
    @classmethod
    def _ordered(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        days = [s.after_days for s in steps]
        if days != sorted(days):
            raise ValueError("escalation steps must be in increasing order of after_days")
        return steps


DEFAULT_REMINDERS = [7, 3, 1, 0]
DEFAULT_ESCALATION = Escalation(
    steps=[
        EscalationStep(after_days=1, to=["reporter", "head"]),
        EscalationStep(after_days=3, to=["standing_office"]),
        EscalationStep(after_days=7, to=["chair"]),
    ]
)

Reminders = list[Annotated[int, Field(ge=0, le=90)]]


class Defaults(Strict):
    reminders: Reminders = Field(default_factory=lambda: list(DEFAULT_REMINDERS))
    escalation: Escalation = Field(default_factory=lambda: DEFAULT_ESCALATION.model_copy())
    # Every schedule's `holiday` unless it sets its own.
    holiday: HolidayRule = DEFAULT_HOLIDAY
    # Working days a report returned for changes has for its supplement («bổ sung»): a
    # correction sent within them is on time (core.lateness).
    supplement_working_days: int = Field(SUPPLEMENT_WORKING_DAYS, ge=1, le=60)


def _merge_settings(types: Mapping[str, fields.FieldType]) -> dict[str, Any]:
    """The plan keys of every type's settings, in registry order, as `create_model` wants
    them. A key two types share (min/max: numbers and dates) takes either's values."""
    found: dict[str, list[FieldInfo]] = {}
    for ftype in types.values():
        for key, info in ftype.settings.model_fields.items():
            if all(info is not seen for seen in found.setdefault(key, [])):
                found[key].append(info)
    merged: dict[str, Any] = {}
    for key, infos in found.items():
        if len(infos) == 1:
            merged[key] = (infos[0].annotation, infos[0])
            continue
        members: list[Any] = []
        for info in infos:
            for arg in typing.get_args(info.annotation) or (info.annotation,):
                if arg is not type(None) and arg not in members:
                    members.append(arg)
        annotation: Any = typing.Union[(*members, None)]
        metadata = [m for info in infos for m in info.metadata]
        merged[key] = (Annotated[annotation, *metadata] if metadata else annotation, None)
    return merged


class FieldBase(Strict):
    """A form's field in the plan file. The keys besides these common ones, and the rules
    on them, come from the field's type (core.fields): see `field_model`."""

    field_types: ClassVar[Mapping[str, fields.FieldType]] = FIELD_TYPES

    if TYPE_CHECKING:  # declared by field_model, in the order they are dumped
        code: str
        label: str
        type: str
        required: bool
        help: str | None
        unit: str | None
        show_if: str | None

    def setting(self, key: str) -> Any:
        """A type's plan key (None when not given, or when no type has that key)."""
        return getattr(self, key, None)

    def option_pairs(self) -> list[tuple[str, str]]:
        return [
            (o.value, o.label) if isinstance(o, Option) else (o, o)
            for o in self.setting("options") or []
        ]

    def normalized(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        if self.setting("options") is not None:
            data["options"] = [{"value": v, "label": label} for v, label in self.option_pairs()]
        for key, default in self.field_types[self.type].plan_defaults.items():
            data.setdefault(key, copy.deepcopy(default))
        data.setdefault("required", True)
        return data


def field_model(types: Mapping[str, fields.FieldType]) -> type[FieldBase]:
    """The pydantic model of a plan's field for these field types: `type` is one of their
    names, the other keys are those of their settings, and each type checks its own."""
    settings = _merge_settings(types)

    models: list[type[fields.Settings]] = []
    for ftype in types.values():
        if ftype.settings not in models:
            models.append(ftype.settings)
    # Refusals are reported in each settings model's `check_order`, one at a time.
    models.sort(key=lambda m: m.check_order)

    def consistent(self: FieldBase) -> FieldBase:
        ftype = types[self.type]
        given = {k: getattr(self, k) for k in settings if getattr(self, k) is not None}
        own = ftype.settings.model_fields
        for model in models:
            if model is ftype.settings:
                ftype.check_settings(given)
                continue
            for key in model.model_fields:
                if key in given and key not in own:
                    words = model.misplaced.get(key, "{key} does not apply to a {type} field")
                    raise ValueError(words.format(key=key, type=self.type))
        return self

    # The keys in the order they have always been dumped (normalised definitions).
    keys: dict[str, Any] = {
        "code": (FieldCode, ...),
        "label": (str, ...),
        "type": (Literal[tuple(types)], ...),
        "required": (bool, True),
        "help": (str | None, None),
        "unit": (str | None, None),
        **settings,
        "show_if": (str | None, None),
    }
    validators: dict[str, Any] = {"_consistent": model_validator(mode="after")(consistent)}
    model: type[FieldBase] = create_model(
        "FormField", __base__=FieldBase, __validators__=validators, **keys)
    model.field_types = types
    return model


if TYPE_CHECKING:
    FormField = FieldBase
else:
    FormField = field_model(FIELD_TYPES)


class Check(Strict):
    rule: str
    message: str


class Form(Strict):
    code: Code
    title: str
    allow_no_report: bool = False
    fields: list[FormField] = Field(min_length=1)
    checks: list[Check] = []

    def definition(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "allow_no_report": self.allow_no_report,
            "fields": [f.normalized() for f in self.fields],
            "checks": [c.model_dump() for c in self.checks],
        }

    def definition_hash(self) -> str:
        raw = json.dumps(self.definition(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


class KindSel(Strict):
    kind: Code


class KindsSel(Strict):
    kinds: list[Code] = Field(min_length=1)


class SubjectsSel(Strict):
    """The agencies that hold at least one subject of this kind (e.g. hotspots)."""

    subjects: Code


AgencySelector = Literal["all"] | list[Code] | KindSel | KindsSel | SubjectsSel


class CutoffDay(Strict):
    day: int = Field(ge=1, le=28)


Cutoff = Literal["decree09", "end"] | CutoffDay


class Due(Strict):
    day: int | None = Field(None, ge=1, le=31)
    before: bool = False
    month: Literal["last", "next"] | Annotated[int, Field(ge=1, le=12)] = "last"
    after_cutoff_days: int | None = Field(None, ge=0, le=366)
    time: HHMM | None = None
    date: dt.date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Due:
        given = [x is not None for x in (self.day, self.after_cutoff_days, self.date)]
        if sum(given) != 1:
            raise ValueError("give exactly one of day, after_cutoff_days or date")
        if self.before and self.day is None:
            raise ValueError("before: true needs a day")
        if self.before and self.day == 1 and self.month != "next":
            pass  # «trước ngày 1» is the last day of the previous month; allowed
        return self


class Override(Strict):
    agencies: AgencySelector
    form: Code


class OutlineSection(Strict):
    """A section of the agency's report (đề cương): its heading as the document writes it
    («I. KẾT QUẢ THỰC HIỆN») and the questions whose answers go under it, in order."""

    heading: str = Field(min_length=1, max_length=300)
    fields: list[FieldCode] = []


class Schedule(Strict):
    code: Code
    name: str
    wording: str | None = None
    period: PeriodType
    cutoff: Cutoff = "decree09"
    due: Due | None = None
    # None in the file: `defaults.holiday` (filled in when the document is validated).
    holiday: HolidayRule | None = None
    # The signed report file (the form's one `file` field) for this schedule's reports:
    # required, optional, or not asked; omitted: as the form's field says.
    signed_file: SignedFile | None = None
    form: Code
    agencies: AgencySelector = "all"
    overrides: list[Override] = []
    reminders: Reminders | None = None
    escalation: Escalation | None = None
    per_subject: Code | None = None
    start: dt.date | None = None
    # The outline of the agency's report in the administrative format (issue 15): its
    # sections and the answers under each; omitted, the form's order.
    outline: list[OutlineSection] | None = None

    @model_validator(mode="after")
    def _due_fits_period(self) -> Schedule:
        if self.period == "ad_hoc":
            if self.due is not None:
                raise ValueError("an ad_hoc schedule gets its deadline when it is requested")
            return self
        if self.due is None:
            raise ValueError(f"a {self.period} schedule needs a due rule")
        if self.period == "one_off":
            if self.due.date is None:
                raise ValueError("a one_off schedule needs due: {date: YYYY-MM-DD}")
        elif self.due.date is not None:
            raise ValueError(f"due: date is only for one_off schedules, not {self.period}")
        if isinstance(self.due.month, int) and self.period not in ("yearly", "half_year"):
            raise ValueError("a fixed due month is only for yearly and half-year schedules")
        return self


Aggregate = Literal["sum", "latest", "max", "min", "average"]
# A field's year-to-date rule (core.fields.numeric `accumulate`) as a target's aggregate.
ACCUMULATE_AGGREGATE: dict[str, Aggregate] = {"sum": "sum", "last": "latest", "max": "max"}


class TargetValue(Strict):
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$")]
    # Left out: the field's own year-to-date rule (`accumulate`), else sum.
    aggregate: Aggregate | None = None
    schedule: Code | None = None


class Target(Strict):
    code: Code
    name: str
    agencies: AgencySelector | None = None
    per_agency: bool = False
    # count_where counts subjects of this kind (each with its own answers), not agencies.
    per_subject: Code | None = None
    values: dict[FieldCode, TargetValue] = Field(min_length=1)
    value: str | None = None
    count_where: str | None = None
    comparison: Literal[">=", ">", "<=", "<", "=="] = ">="
    target: float
    unit: str | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> Target:
        if (self.value is None) == (self.count_where is None):
            raise ValueError("give exactly one of value or count_where")
        if self.count_where is not None and self.per_agency:
            raise ValueError("count_where counts agencies; it cannot be per_agency")
        if self.per_subject is not None and self.count_where is None:
            raise ValueError("per_subject counts subjects: it needs count_where")
        return self


class PlanDocument(Strict):
    format: Literal[1]
    plan: PlanInfo
    committee: CommitteeInfo
    # code -> label, or code -> {label, escalate}; after validation always code -> label,
    # the options are in `kind_escalates`.
    kinds: dict[Code, KindEntry] = Field(min_length=1)
    agencies: list[AgencyEntry] = Field(min_length=1)
    subjects: list[Subject] = []
    calendar: CalendarCfg = Field(default_factory=CalendarCfg)
    defaults: Defaults = Field(default_factory=Defaults)
    forms: list[Form] = Field(min_length=1)
    schedules: list[Schedule] = Field(min_length=1)
    targets: list[Target] = []

    _kind_escalates: dict[str, bool] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _normalise(self) -> PlanDocument:
        # Idempotent: pydantic runs this again when the document is put into a PlanSpec.
        for code, entry in list(self.kinds.items()):
            if isinstance(entry, KindInfo):
                self._kind_escalates[code] = entry.escalate
                self.kinds[code] = entry.label
            else:
                self._kind_escalates.setdefault(code, True)
        for sched in self.schedules:
            if sched.holiday is None:
                sched.holiday = self.defaults.holiday
        return self

    @property
    def kind_escalates(self) -> dict[str, bool]:
        return self._kind_escalates


# --------------------------------------------------------------------------- results


class AgencySpec(BaseModel):
    code: str
    name: str
    short_name: str | None
    kind: str
    parent: str | None
    path: Path
    origin: Path  # where kind and parent are written: the group for list entries
    # Whether its overdue reports go above the consolidating agency (ABOVE_CONSOLIDATING).
    escalate: bool = True


class PlanSpec(BaseModel):
    """A validated plan, with agency groups expanded and selectors resolved."""

    source: str
    source_hash: str
    doc: PlanDocument
    agencies: list[AgencySpec]
    # schedule code -> {agency code -> form code}
    assignments: dict[str, dict[str, str]]
    # target code -> agency codes it covers
    target_agencies: dict[str, list[str]]
    # Problems that do not refuse the file (personal data asked in a form).
    warnings: list[SourceError] = []

    @property
    def code(self) -> str:
        return self.doc.plan.code

    @property
    def consolidating(self) -> str:
        """The agency that receives and consolidates the reports (cơ quan tổng hợp)."""
        assert self.doc.committee.consolidating is not None  # filled in by validation
        return self.doc.committee.consolidating

    @property
    def standing_office(self) -> str | None:
        """The committee's standing office, when the plan says which agency it is."""
        return self.doc.committee.standing_office

    def role_label(self, role: str) -> str | None:
        """The plan's own name for a role (committee.labels), or None."""
        return self.doc.committee.labels.get(role)

    def agency(self, code: str) -> AgencySpec:
        return next(a for a in self.agencies if a.code == code)

    def escalates(self, agency_code: str) -> bool:
        """False for an agency the plan only requests («đề nghị»): reminders and its own
        overdue notices, but never the standing office, chair or external levels."""
        return self.agency(agency_code).escalate

    def escalation_targets_for(
        self, schedule: Schedule, agency_code: str
    ) -> list[EscalationStep]:
        """The escalation steps that apply to one agency's overdue report of `schedule`."""
        steps = self.escalation_for(schedule).steps
        if self.escalates(agency_code):
            return list(steps)
        out = []
        for step in steps:
            kept = [t for t in step.to if t not in ABOVE_CONSOLIDATING]
            if kept:
                out.append(step.model_copy(update={"to": kept, "label": None}))
        return out

    def signed_file_field(self, form_code: str) -> str | None:
        """The code of the form's one `file` field (the signed report), if it has one."""
        files = [f.code for f in self.form(form_code).fields if f.type == "file"]
        return files[0] if len(files) == 1 else None

    def signed_file_rule(self, schedule: Schedule) -> SignedFile | None:
        """required | optional | none for the schedule's signed report file; None: the
        form's own `file` field decides."""
        return schedule.signed_file

    def schedule(self, code: str) -> Schedule:
        return next(s for s in self.doc.schedules if s.code == code)

    def form(self, code: str) -> Form:
        return next(f for f in self.doc.forms if f.code == code)

    def reminders_for(self, schedule: Schedule) -> list[int]:
        return schedule.reminders if schedule.reminders is not None else self.doc.defaults.reminders

    def escalation_for(self, schedule: Schedule) -> Escalation:
        return schedule.escalation or self.doc.defaults.escalation


class PlanFileError(Exception):
    def __init__(self, errors: list[SourceError], warnings: list[SourceError] | None = None):
        self.errors = errors
        self.warnings = warnings or []
        super().__init__("\n".join(str(e) for e in errors))


def slugify(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def load_plan(path: str | FsPath) -> PlanSpec:
    path = FsPath(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # never more than the limit into memory
    except OSError as exc:
        raise PlanFileError([SourceError(str(path), None, "", f"cannot read: {exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise PlanFileError([size_error(str(path))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanFileError(
            [SourceError(str(path), line, "", f"not UTF-8 text: {exc.reason}")]
        ) from None
    return parse_plan(text, str(path), hashlib.sha256(raw).hexdigest())


def parse_plan(text: str, filename: str, source_hash: str | None = None) -> PlanSpec:
    loaded = load_yaml(text, filename)
    if loaded.errors:
        raise PlanFileError(loaded.errors)
    if not isinstance(loaded.data, dict):
        raise PlanFileError([SourceError(filename, 1, "", "the file must be a YAML mapping")])
    try:
        doc = PlanDocument.model_validate(loaded.data)
    except ValidationError as exc:
        raise PlanFileError(_pydantic_errors(exc, loaded, filename)) from None
    checker = _Checker(doc, loaded, filename)
    spec = checker.run(source_hash or hashlib.sha256(text.encode()).hexdigest())
    if checker.errors:
        raise PlanFileError(checker.errors, checker.warnings)
    assert spec is not None
    return spec


def _pydantic_errors(exc: ValidationError, loaded: LoadedYaml, fn: str) -> list[SourceError]:
    out: list[SourceError] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        # Keep only the parts of pydantic's location that exist in the YAML: union and
        # discriminator tags ("single", "literal['all']", ...) are not part of the file.
        loc: list[str | int] = []
        parts = list(err["loc"])
        for n, part in enumerate(parts):
            if (*loc, part) in loaded.lines or (n == len(parts) - 1 and err["type"] == "missing"):
                loc.append(part)
        path = tuple(loc)
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = f"unknown key '{path[-1]}'"
        elif err["type"] == "missing":
            reason = f"missing required key '{path[-1]}'"
        elif err["type"].startswith("value_error"):
            reason = reason.removeprefix("Value error, ")
        key = (format_path(path), reason)
        if key in seen:
            continue
        seen.add(key)
        line = loaded.line_of(path)
        out.append(SourceError(fn, line, format_path(path), reason))
    # Unions report one error per alternative; keep them but most specific first.
    out.sort(key=lambda e: (e.line or 0))
    return out


class _Checker:
    def __init__(self, doc: PlanDocument, loaded: LoadedYaml, fn: str):
        self.doc = doc
        self.loaded = loaded
        self.fn = fn
        self.errors: list[SourceError] = []
        self.warnings: list[SourceError] = []
        self.subjects_by_kind: dict[str, list[str]] = {}

    def error(self, path: Path, reason: str) -> None:
        self.errors.append(
            SourceError(self.fn, self.loaded.line_of(path), format_path(path), reason)
        )

    def warn(self, path: Path, reason: str) -> None:
        self.warnings.append(
            SourceError(self.fn, self.loaded.line_of(path), format_path(path),
                        f"warning: {reason}")
        )

    def unique(self, items: Iterable[tuple[str, Path]], what: str) -> None:
        seen: dict[str, Path] = {}
        for code, path in items:
            if code in seen:
                first = self.loaded.line_of(seen[code])
                self.error(path, f"duplicate {what} code '{code}' (first at line {first})")
            else:
                seen[code] = path

    def run(self, source_hash: str) -> PlanSpec | None:
        doc = self.doc
        agencies = self.expand_agencies()
        self.unique(((a.code, a.path) for a in agencies), "agency")
        codes = {a.code for a in agencies}
        by_kind: dict[str, list[str]] = {}
        reported: set[Path] = set()
        for a in agencies:
            by_kind.setdefault(a.kind, []).append(a.code)
            if a.kind not in doc.kinds and (*a.origin, "kind") not in reported:
                reported.add((*a.origin, "kind"))
                self.error((*a.origin, "kind"), f"unknown kind '{a.kind}'")
            if (
                a.parent is not None and a.parent not in codes
                and (*a.origin, "parent") not in reported
            ):
                reported.add((*a.origin, "parent"))
                self.error((*a.origin, "parent"), f"unknown parent agency '{a.parent}'")
        committee = doc.committee
        for key in ("consolidating", "standing_office"):
            code = getattr(committee, key)
            if code is not None and code not in codes:
                # A legacy file names only standing_office: report it there, once.
                if key == "consolidating" and "consolidating" not in self.loaded.data.get(
                    "committee", {}
                ):
                    continue
                self.error(("committee", key), f"unknown agency '{code}'")
        self.check_cycles(agencies)

        self.unique(((s.code, ("subjects", i)) for i, s in enumerate(doc.subjects)), "subject")
        subject_kinds = {s.kind for s in doc.subjects}
        for i, s in enumerate(doc.subjects):
            if s.agency not in codes:
                self.error(("subjects", i, "agency"), f"unknown agency '{s.agency}'")
            else:
                holders = self.subjects_by_kind.setdefault(s.kind, [])
                if s.agency not in holders:
                    holders.append(s.agency)

        if ("defaults", "escalation") in self.loaded.lines:
            self.check_escalation(doc.defaults.escalation, ("defaults", "escalation"))
        elif not self.names_standing_office():
            self.error(
                ("committee",),
                "the default escalation chain goes to the standing office, but the plan names "
                "none: set committee.standing_office (an agency) or "
                "committee.labels.standing_office, or write defaults.escalation",
            )

        p = doc.plan
        # The plan model fills both dates in (Plan's validator); the names say they are set.
        assert p.starts is not None and p.ends is not None
        starts, ends = p.starts, p.ends
        for key in ("holidays", "working_days"):
            for i, day in enumerate(getattr(doc.calendar, key)):
                if not (starts.year - 1 <= day.year <= ends.year + 1):
                    self.error(("calendar", key, i), f"date {day} is far outside the plan")

        forms = {f.code: f for f in doc.forms}
        self.unique(((f.code, ("forms", i)) for i, f in enumerate(doc.forms)), "form")
        for i, form in enumerate(doc.forms):
            self.check_form(form, ("forms", i))

        self.unique(
            ((s.code, ("schedules", i)) for i, s in enumerate(doc.schedules)), "schedule"
        )
        assignments: dict[str, dict[str, str]] = {}
        for i, sched in enumerate(doc.schedules):
            base = ("schedules", i)
            if sched.form not in forms:
                self.error((*base, "form"), f"unknown form '{sched.form}'")
            chosen = self.select(sched.agencies, (*base, "agencies"), codes, by_kind)
            mapping = {code: sched.form for code in chosen}
            for j, ov in enumerate(sched.overrides):
                if ov.form not in forms:
                    self.error((*base, "overrides", j, "form"), f"unknown form '{ov.form}'")
                for code in self.select(
                    ov.agencies, (*base, "overrides", j, "agencies"), codes, by_kind
                ):
                    if code not in mapping:
                        self.error(
                            (*base, "overrides", j, "agencies"),
                            f"agency '{code}' is not assigned to schedule '{sched.code}'",
                        )
                    mapping[code] = ov.form
            if sched.per_subject is not None and sched.per_subject not in subject_kinds:
                self.error((*base, "per_subject"), f"no subject of kind '{sched.per_subject}'")
            if sched.escalation is not None:
                self.check_escalation(sched.escalation, (*base, "escalation"))
            if sched.signed_file is not None:
                for form_code in dict.fromkeys(mapping.values()):
                    signed_form = forms.get(form_code)
                    if signed_form is None:
                        continue
                    files = [f.code for f in signed_form.fields if f.type == "file"]
                    if len(files) != 1:
                        self.error(
                            (*base, "signed_file"),
                            f"form '{form_code}' has {len(files)} file fields"
                            + (f" ({', '.join(files)})" if files else "")
                            + "; signed_file needs exactly one, the signed report",
                        )
            if sched.outline is not None:
                known = {f.code for form_code in dict.fromkeys(mapping.values())
                         if (outlined := forms.get(form_code)) is not None
                         for f in outlined.fields}
                for k, section in enumerate(sched.outline):
                    for j, code in enumerate(section.fields):
                        if code not in known:
                            self.error((*base, "outline", k, "fields", j),
                                       f"no field '{code}' in the forms of schedule "
                                       f"'{sched.code}'")
            if sched.due is not None and sched.due.date is not None:
                if not (starts <= sched.due.date <= ends + dt.timedelta(days=366)):
                    self.error(
                        (*base, "due", "date"),
                        f"deadline {sched.due.date} is outside the plan ({p.starts}–{p.ends})",
                    )
            if sched.due is not None and sched.due.day is not None and sched.due.day > 28:
                self.error(
                    (*base, "due", "day"),
                    f"day {sched.due.day} does not exist in every month; use 28 or less, "
                    "or after_cutoff_days",
                )
            assignments[sched.code] = mapping

        schedule_codes = {s.code for s in doc.schedules}
        target_agencies: dict[str, list[str]] = {}
        self.unique(((t.code, ("targets", i)) for i, t in enumerate(doc.targets)), "target")
        schedules_by_code = {s.code: s for s in doc.schedules}
        for i, target in enumerate(doc.targets):
            base = ("targets", i)
            if target.per_subject is not None:
                if target.per_subject not in subject_kinds:
                    self.error(
                        (*base, "per_subject"), f"no subject of kind '{target.per_subject}'"
                    )
                for name, value in target.values.items():
                    counted = schedules_by_code.get(value.schedule or "")
                    if value.schedule is None or (
                        counted is not None and counted.per_subject != target.per_subject
                    ):
                        self.error(
                            (*base, "values", name),
                            f"a per_subject target counts the answers of a schedule with "
                            f"per_subject: {target.per_subject}; name it in schedule:",
                        )
            if target.agencies is not None:
                target_agencies[target.code] = self.select(
                    target.agencies, (*base, "agencies"), codes, by_kind
                )
            elif target.per_subject is not None:
                target_agencies[target.code] = list(
                    self.subjects_by_kind.get(target.per_subject, [])
                )
            else:
                target_agencies[target.code] = sorted(codes)
            for name, value in target.values.items():
                form_code, field_code = value.field.split(".", 1)
                source = forms.get(form_code)
                if source is None:
                    self.error((*base, "values", name, "field"), f"unknown form '{form_code}'")
                else:
                    fld = next((f for f in source.fields if f.code == field_code), None)
                    if fld is None:
                        self.error(
                            (*base, "values", name, "field"),
                            f"form '{form_code}' has no field '{field_code}'",
                        )
                    elif field_type(fld.type).target is None:
                        self.error(
                            (*base, "values", name, "field"),
                            f"field '{value.field}' is {fld.type}; a target needs a number "
                            "or yes/no",
                        )
                    elif (field_type(fld.type).target == "latest"
                          and value.aggregate not in (None, "latest")):
                        self.error(
                            (*base, "values", name, "aggregate"),
                            f"field '{value.field}' is a choice: only its latest answer "
                            "counts (aggregate: latest)",
                        )
                    else:
                        self.target_aggregate(value, fld, (*base, "values", name, "aggregate"))
                if value.schedule is not None and value.schedule not in schedule_codes:
                    self.error(
                        (*base, "values", name, "schedule"), f"unknown schedule '{value.schedule}'"
                    )
            for key in ("value", "count_where"):
                source = getattr(target, key)
                if source is not None:
                    self.expression(source, set(target.values), (*base, key))

        if self.errors:
            return None
        return PlanSpec(
            source=self.fn,
            source_hash=source_hash,
            doc=doc,
            agencies=agencies,
            assignments=assignments,
            target_agencies=target_agencies,
            warnings=self.warnings,
        )

    def names_standing_office(self) -> bool:
        committee = self.doc.committee
        return committee.standing_office is not None or bool(committee.labels.standing_office)

    def check_escalation(self, escalation: Escalation, base: Path) -> None:
        named = self.names_standing_office()
        for j, step in enumerate(escalation.steps):
            if "standing_office" in step.to and not named:
                self.error(
                    (*base, "steps", j, "to"),
                    "the plan names no standing office: set committee.standing_office "
                    "(an agency) or committee.labels.standing_office, or escalate to "
                    "consolidating",
                )

    def expand_agencies(self) -> list[AgencySpec]:
        out: list[AgencySpec] = []
        kind_escalates = self.doc.kind_escalates
        for i, entry in enumerate(self.doc.agencies):
            path: Path = ("agencies", i)
            escalate = (
                entry.escalate if entry.escalate is not None
                else kind_escalates.get(entry.kind, True)
            )
            if isinstance(entry, AgencyItem):
                out.append(
                    AgencySpec(
                        code=entry.code, name=entry.name, short_name=entry.short,
                        kind=entry.kind, parent=entry.parent, path=path, origin=path,
                        escalate=escalate,
                    )
                )
                continue
            for j, item in enumerate(entry.entries):
                item_path = (*path, "list", j)
                item = ListEntry(name=item) if isinstance(item, str) else item
                slug = slugify(item.name)
                values = {"name": item.name, "slug": slug}
                try:
                    code = item.code or (entry.code or entry.kind + "-{slug}").format(**values)
                    name = entry.name.format(**values)
                    short = item.short or (
                        entry.short.format(**values) if entry.short else None
                    )
                except (KeyError, IndexError, ValueError) as exc:
                    self.error(path, f"bad template: {exc}")
                    return out
                if not re.match(CODE_RE, code):
                    self.error(item_path, f"'{code}' is not a valid code")
                out.append(
                    AgencySpec(
                        code=code, name=name, short_name=short, kind=entry.kind,
                        parent=entry.parent, path=item_path, origin=path, escalate=escalate,
                    )
                )
        return out

    def check_cycles(self, agencies: list[AgencySpec]) -> None:
        parents = {a.code: a.parent for a in agencies}
        for a in agencies:
            seen = {a.code}
            node = a.parent
            while node is not None and node in parents:
                if node in seen:
                    self.error((*a.path, "parent"), f"agency '{a.code}' is its own ancestor")
                    break
                seen.add(node)
                node = parents[node]

    def select(
        self, selector: Any, path: Path, codes: set[str], by_kind: dict[str, list[str]]
    ) -> list[str]:
        if selector == "all":
            return sorted(codes)
        if isinstance(selector, list):
            self.unique(((c, (*path, i)) for i, c in enumerate(selector)), "agency")
            for i, code in enumerate(selector):
                if code not in codes:
                    self.error((*path, i), f"unknown agency '{code}'")
            return [c for c in selector if c in codes]
        if isinstance(selector, SubjectsSel):
            holders = self.subjects_by_kind.get(selector.subjects)
            if not holders:
                self.error(path, f"no subject of kind '{selector.subjects}'")
                return []
            return list(holders)
        kinds = [selector.kind] if isinstance(selector, KindSel) else selector.kinds
        out: list[str] = []
        for kind in kinds:
            if kind not in self.doc.kinds:
                self.error(path, f"unknown kind '{kind}'")
            elif kind not in by_kind:
                self.error(path, f"no agency of kind '{kind}'")
            out.extend(by_kind.get(kind, []))
        return out

    def check_form(self, form: Form, base: Path) -> None:
        self.unique(
            ((f.code, (*base, "fields", j)) for j, f in enumerate(form.fields)), "field"
        )
        earlier: set[str] = set()
        for j, fld in enumerate(form.fields):
            if fld.show_if is not None:
                expr = self.expression(fld.show_if, earlier, (*base, "fields", j, "show_if"))
                if expr is not None and fld.code in expr.names:
                    self.error((*base, "fields", j, "show_if"), "a field cannot depend on itself")
            for key in ("label", "help"):
                text = getattr(fld, key)
                found = personal_data_terms(text) if text else []
                if found:
                    self.warn(
                        (*base, "fields", j, key),
                        f"asks for personal data ({', '.join(f'«{t}»' for t in found)}): "
                        "forms collect counts, not names, addresses or other personal data "
                        "of the people involved (Nghị định 13/2023/NĐ-CP)",
                    )
            if fld.setting("accept") is not None:
                for k, ext in enumerate(fld.setting("accept")):
                    if not re.fullmatch(r"[a-z0-9]{1,8}", ext):
                        self.error(
                            (*base, "fields", j, "accept", k), f"bad file extension '{ext}'"
                        )
            earlier.add(fld.code)
        names = {f.code for f in form.fields}
        for k, check in enumerate(form.checks):
            self.expression(check.rule, names, (*base, "checks", k, "rule"))

    def target_aggregate(self, value: TargetValue, fld: FieldBase, path: Path) -> None:
        """A target adds up a field year to date by the field's own rule (`accumulate`), the
        rule the forms' proposals use: left out, it is taken from the field; given, it must
        agree (a stock reported monthly, «last», summed over a year would count it 12 times)."""
        rule = fld.setting("accumulate")
        implied: Aggregate | None = ACCUMULATE_AGGREGATE.get(rule) if rule else None
        if field_type(fld.type).target == "latest":
            implied = "latest"
        if value.aggregate is None:
            value.aggregate = implied or "sum"
        elif implied is not None and value.aggregate != implied:
            self.error(path, f"field '{value.field}' accumulates by {rule} (accumulate: {rule}); "
                             f"a target counts it the same way: aggregate: {implied}, or "
                             "leave aggregate out")

    def expression(
        self, source: str, names: set[str], path: Path
    ) -> expressions.Expression | None:
        try:
            return expressions.parse(source, names)
        except expressions.ExpressionError as exc:
            self.error(path, str(exc))
            return None


# Words in a field's label or help that ask for personal data of a person (Nghị định
# 13/2023/NĐ-CP): matched as whole words, case-insensitively, with diacritics as written
# (so «năm sinh» warns and «nam sinh», male students, does not), plus the usual spellings
# without diacritics and abbreviations.
PERSONAL_DATA_TERMS: tuple[str, ...] = (
    "họ tên", "họ và tên", "tên người", "tên đối tượng", "tên, tuổi", "danh sách",
    "địa chỉ", "nơi ở", "chỗ ở", "nơi cư trú", "nơi thường trú", "nơi tạm trú",
    "quê quán", "nguyên quán", "ngày sinh", "năm sinh", "ngày tháng năm sinh",
    "số điện thoại", "điện thoại", "thư điện tử", "email", "zalo cá nhân",
    "số cmnd", "cmnd", "cccd", "chứng minh nhân dân", "căn cước", "hộ chiếu",
    "số định danh", "mã định danh", "biển số xe", "tài khoản ngân hàng", "ảnh chân dung",
    "ho ten", "ho va ten", "dia chi", "so dien thoai", "ngay sinh", "que quan", "sdt",
)


def personal_data_terms(text: str) -> list[str]:
    """The PERSONAL_DATA_TERMS that `text` contains, as whole words."""
    low = unicodedata.normalize("NFC", text).lower()
    found = []
    for term in PERSONAL_DATA_TERMS:
        if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", low):
            found.append(term)
    # Name each finding once: «điện thoại» inside «số điện thoại» is the same finding.
    return [t for t in found if not any(t != o and t in o for o in found)]
