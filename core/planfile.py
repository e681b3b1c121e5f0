"""The plan file: schema (pydantic), cross-reference checks and a normalised result.

`load_plan(path)` returns a `PlanSpec` or raises `PlanFileError` listing every problem with
file, line, key path and reason. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from core import expressions
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
Role = Literal["reporter", "head", "standing_office", "chair", "admin"]
FieldType = Literal[
    "integer", "decimal", "percent", "yes_no", "choice", "multi_choice",
    "date", "text", "long_text", "file",
]
PeriodType = Literal[
    "monthly", "quarterly", "half_year", "nine_month", "yearly", "one_off", "ad_hoc"
]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]

DEFAULT_ACCEPT = ["pdf", "doc", "docx", "jpg", "jpeg", "png"]


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


class CommitteeInfo(Strict):
    code: Code
    name: str
    standing_office: Code


class AgencyItem(Strict):
    code: Code
    name: str
    short: str | None = None
    kind: Code
    parent: Code | None = None


class ListEntry(Strict):
    name: str
    code: Code | None = None
    short: str | None = None


class AgencyGroup(Strict):
    kind: Code
    parent: Code | None = None
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
    to: list[Role] = Field(min_length=1)


class Escalation(Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    repeat_every: int = Field(5, ge=1, le=60)
    rounds: int = Field(5, ge=1, le=50)
    stop_after_plan_days: int = Field(60, ge=0, le=3650)

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


class Option(Strict):
    value: str
    label: str


class FormField(Strict):
    code: FieldCode
    label: str
    type: FieldType
    required: bool = True
    help: str | None = None
    unit: str | None = None
    min: float | dt.date | None = None
    max: float | dt.date | None = None
    options: list[Option | str] | None = None
    max_length: int | None = Field(None, ge=1, le=4000)
    accept: list[str] | None = None
    max_mb: float | None = Field(None, gt=0, le=2000)
    show_if: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        if self.type in ("choice", "multi_choice"):
            if not self.options:
                raise ValueError(f"a {self.type} field needs options")
            values = [o.value if isinstance(o, Option) else o for o in self.options]
            if len(set(values)) != len(values):
                raise ValueError("duplicate option values")
        elif self.options is not None:
            raise ValueError(f"options are only for choice fields, not {self.type}")
        numeric = self.type in ("integer", "decimal", "percent")
        for bound in (self.min, self.max):
            if bound is None:
                continue
            if numeric and isinstance(bound, dt.date):
                raise ValueError("a numeric field needs numeric bounds")
            if self.type == "date" and not isinstance(bound, dt.date):
                raise ValueError("a date field needs YYYY-MM-DD bounds")
            if not numeric and self.type != "date":
                raise ValueError(f"bounds do not apply to a {self.type} field")
        if self.min is not None and self.max is not None and self.min > self.max:  # type: ignore[operator]
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.type != "file" and (self.accept is not None or self.max_mb is not None):
            raise ValueError("accept and max_mb are only for file fields")
        if self.max_length is not None and self.type not in ("text", "long_text"):
            raise ValueError("max_length is only for text fields")
        return self

    def option_pairs(self) -> list[tuple[str, str]]:
        return [
            (o.value, o.label) if isinstance(o, Option) else (o, o) for o in self.options or []
        ]

    def normalized(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        if self.options is not None:
            data["options"] = [{"value": v, "label": label} for v, label in self.option_pairs()]
        if self.type == "file":
            data.setdefault("accept", list(DEFAULT_ACCEPT))
            data.setdefault("max_mb", 20)
        if self.type == "text":
            data.setdefault("max_length", 200)
        if self.type == "long_text":
            data.setdefault("max_length", 4000)
        if self.type == "percent":
            data.setdefault("min", 0)
            data.setdefault("max", 100)
        data.setdefault("required", True)
        return data


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


AgencySelector = Literal["all"] | list[Code] | KindSel | KindsSel


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


class Schedule(Strict):
    code: Code
    name: str
    wording: str | None = None
    period: PeriodType
    cutoff: Cutoff = "decree09"
    due: Due | None = None
    holiday: Literal["keep", "next_working_day", "previous_working_day"] = "keep"
    form: Code
    agencies: AgencySelector = "all"
    overrides: list[Override] = []
    reminders: Reminders | None = None
    escalation: Escalation | None = None
    per_subject: Code | None = None
    start: dt.date | None = None

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


class TargetValue(Strict):
    field: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$")]
    aggregate: Literal["sum", "latest", "max", "min", "average"] = "sum"
    schedule: Code | None = None


class Target(Strict):
    code: Code
    name: str
    agencies: AgencySelector | None = None
    per_agency: bool = False
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
        return self


class PlanDocument(Strict):
    format: Literal[1]
    plan: PlanInfo
    committee: CommitteeInfo
    kinds: dict[Code, str] = Field(min_length=1)
    agencies: list[AgencyEntry] = Field(min_length=1)
    subjects: list[Subject] = []
    calendar: CalendarCfg = Field(default_factory=CalendarCfg)
    defaults: Defaults = Field(default_factory=Defaults)
    forms: list[Form] = Field(min_length=1)
    schedules: list[Schedule] = Field(min_length=1)
    targets: list[Target] = []


# --------------------------------------------------------------------------- results


class AgencySpec(BaseModel):
    code: str
    name: str
    short_name: str | None
    kind: str
    parent: str | None
    path: Path
    origin: Path  # where kind and parent are written: the group for list entries


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

    @property
    def code(self) -> str:
        return self.doc.plan.code

    def schedule(self, code: str) -> Schedule:
        return next(s for s in self.doc.schedules if s.code == code)

    def form(self, code: str) -> Form:
        return next(f for f in self.doc.forms if f.code == code)

    def reminders_for(self, schedule: Schedule) -> list[int]:
        return schedule.reminders if schedule.reminders is not None else self.doc.defaults.reminders

    def escalation_for(self, schedule: Schedule) -> Escalation:
        return schedule.escalation or self.doc.defaults.escalation


class PlanFileError(Exception):
    def __init__(self, errors: list[SourceError]):
        self.errors = errors
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
        raise PlanFileError(checker.errors)
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

    def error(self, path: Path, reason: str) -> None:
        self.errors.append(
            SourceError(self.fn, self.loaded.line_of(path), format_path(path), reason)
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
        if doc.committee.standing_office not in codes:
            self.error(
                ("committee", "standing_office"),
                f"unknown agency '{doc.committee.standing_office}'",
            )
        self.check_cycles(agencies)

        self.unique(((s.code, ("subjects", i)) for i, s in enumerate(doc.subjects)), "subject")
        subject_kinds = {s.kind for s in doc.subjects}
        for i, s in enumerate(doc.subjects):
            if s.agency not in codes:
                self.error(("subjects", i, "agency"), f"unknown agency '{s.agency}'")

        p = doc.plan
        for key in ("holidays", "working_days"):
            for i, day in enumerate(getattr(doc.calendar, key)):
                if not (p.starts.year - 1 <= day.year <= p.ends.year + 1):  # type: ignore[union-attr]
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
            if sched.due is not None and sched.due.date is not None:
                if not (p.starts <= sched.due.date <= p.ends + dt.timedelta(days=366)):  # type: ignore[operator]
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
        for i, target in enumerate(doc.targets):
            base = ("targets", i)
            target_agencies[target.code] = (
                self.select(target.agencies, (*base, "agencies"), codes, by_kind)
                if target.agencies is not None
                else sorted(codes)
            )
            for name, value in target.values.items():
                form_code, field_code = value.field.split(".", 1)
                form = forms.get(form_code)
                if form is None:
                    self.error((*base, "values", name, "field"), f"unknown form '{form_code}'")
                else:
                    fld = next((f for f in form.fields if f.code == field_code), None)
                    if fld is None:
                        self.error(
                            (*base, "values", name, "field"),
                            f"form '{form_code}' has no field '{field_code}'",
                        )
                    elif fld.type in ("text", "long_text", "file", "multi_choice", "date"):
                        self.error(
                            (*base, "values", name, "field"),
                            f"field '{value.field}' is {fld.type}; a target needs a number "
                            "or yes/no",
                        )
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
        )

    def expand_agencies(self) -> list[AgencySpec]:
        out: list[AgencySpec] = []
        for i, entry in enumerate(self.doc.agencies):
            path: Path = ("agencies", i)
            if isinstance(entry, AgencyItem):
                out.append(
                    AgencySpec(
                        code=entry.code, name=entry.name, short_name=entry.short,
                        kind=entry.kind, parent=entry.parent, path=path, origin=path,
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
                        parent=entry.parent, path=item_path, origin=path,
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
            if fld.accept is not None:
                for k, ext in enumerate(fld.accept):
                    if not re.fullmatch(r"[a-z0-9]{1,8}", ext):
                        self.error(
                            (*base, "fields", j, "accept", k), f"bad file extension '{ext}'"
                        )
            earlier.add(fld.code)
        names = {f.code for f in form.fields}
        for k, check in enumerate(form.checks):
            self.expression(check.rule, names, (*base, "checks", k, "rule"))

    def expression(
        self, source: str, names: set[str], path: Path
    ) -> expressions.Expression | None:
        try:
            return expressions.parse(source, names)
        except expressions.ExpressionError as exc:
            self.error(path, str(exc))
            return None
