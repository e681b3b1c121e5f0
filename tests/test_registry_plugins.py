"""The handlers take their work from the registries, so a new piece is plugged in one place:

- a field type registered in core.fields (one module, one registry line) is asked by the
  guided form with its own buttons, hint and shown value, its presses and toggles read back
  through the type (handlers.forms knows no type by name);
- the admin's escalation editor changes a chain through scheduler.escalation_edit, so the
  steps to levels it does not set (a level outside the committee and its label) survive even
  when they share a step with a level it does set, and a chain the plan schema refuses is
  refused in the bot too.

The toy types stand in for the form fields of the mini plan's «chung» form (the monthly
report of Phòng LĐ-TBXH) by retyping its stored fields, as a plan written for a newer bot
would store them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from core.fields import FIELD_TYPES
from core.fields.base import Choice, FieldSpec, FieldType, Keyboard, Ok, Problem, Result
from core.i18n import Gettext
from core.planfile import load_plan
from db.models import Answer, AuditLog, FormField, Schedule, Submission, SubmissionState
from tests.support.harness import HANOI, ROOT, BotHarness, Replies

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OFFICER = 6001  # reporter of Phòng LĐ-TBXH
ADMIN = 6002


class StarsType(FieldType):
    """One to three stars, by button only."""

    name = "stars"
    hint_msgid = "Tap the stars."

    def parse(self, spec: FieldSpec, text: str) -> Result:
        return Problem("Please tap the stars.")

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        return Ok(value) if value in (1, 2, 3) else Problem("Unsupported answer.")

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return "★" * int(value)

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        return Keyboard([Choice("★" * n, n) for n in (1, 2, 3)])

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        return key if key in (1, 2, 3) else None


SIZES = ("S", "M", "L")


class SizesType(FieldType):
    """Several sizes: each button toggles one, then Done; or typed «S M»."""

    name = "sizes"
    hint_msgid = "Tap every size, then Done."
    several = True

    def parse(self, spec: FieldSpec, text: str) -> Result:
        picked = [s for s in SIZES if s in text.upper().split()]
        return Ok(picked) if picked else Problem("Please choose at least one option.")

    def validate_value(self, spec: FieldSpec, value: Any) -> Result:
        return Ok(value) if isinstance(value, list) and set(value) <= set(SIZES) else Problem(
            "Unsupported answer.")

    def value_text(self, _: Gettext, spec: FieldSpec, value: Any, locale: str) -> str:
        return "/".join(value)

    def keyboard(self, _: Gettext, spec: FieldSpec, current: Any) -> Keyboard | None:
        picked = set(current or [])
        return Keyboard([Choice(f"size {s}", i, s in picked) for i, s in enumerate(SIZES)],
                        several=True, done=True)

    def button_value(self, spec: FieldSpec, key: int) -> Any | None:
        return SIZES[key] if 0 <= key < len(SIZES) else None

    def toggle(self, spec: FieldSpec, current: Any, key: int) -> list[Any] | None:
        value = self.button_value(spec, key)
        if value is None:
            return None
        chosen = list(current or [])
        return [v for v in chosen if v != value] if value in chosen else [*chosen, value]


@pytest.fixture
def with_toys(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the one registry line does: FIELD_TYPES gains the types.
    monkeypatch.setitem(FIELD_TYPES, "stars", StarsType())
    monkeypatch.setitem(FIELD_TYPES, "sizes", SizesType())


async def retyped_report(h: BotHarness) -> tuple[int, Replies]:
    """The «chung» form asks stars, then sizes; the officer opens March's monthly report."""
    await h.join(OFFICER, "ldtbxh", first_name="Hà")
    async with h.session() as session:
        await session.execute(update(FormField).where(FormField.code == "so_buoi")
                              .values(type="stars", settings={}))
        await session.execute(update(FormField).where(FormField.code == "ghi_chu")
                              .values(type="sizes", required=True))
    obligation = await h.obligation("ldtbxh", "thang", "2022-03")
    await h.say(OFFICER, "Báo cáo cần nộp")
    return obligation.id, await h.press(OFFICER, f"o:{obligation.id}")


async def stored(h: BotHarness) -> dict[str, Any]:
    draft = await h.one(Submission, Submission.state == SubmissionState.draft)
    return {a.field_code: a.value for a in await h.rows(Answer, Answer.submission_id == draft.id)}


@SQLITE_ONLY
@pytest.mark.usefixtures("with_toys")
async def test_a_registered_field_type_is_asked_with_its_own_buttons(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        obligation_id, opened = await retyped_report(h)
        question = opened.last
        assert "Tap the stars." in question["text"], question["text"]
        draft = await h.one(Submission, Submission.state == SubmissionState.draft)
        sid = draft.id
        # One per row, sent back as v:{submission}:{position}:{key}.
        assert h.last_buttons(OFFICER)[:3] == [
            ("★", f"v:{sid}:0:1"), ("★★", f"v:{sid}:0:2"), ("★★★", f"v:{sid}:0:3")]
        # A key the type never offered is a stale press, as is a toggle on a single-answer
        # type: nothing is stored (the pressed message loses its buttons; open it again).
        for forged in (f"v:{sid}:0:7", f"t:{sid}:0:1"):
            await h.press_raw(OFFICER, question["message_id"], forged)
            assert await stored(h) == {}
        await h.say(OFFICER, "Báo cáo cần nộp")
        await h.press(OFFICER, f"o:{obligation_id}")

        asked = await h.tap(OFFICER, "★★")
        assert await stored(h) == {"so_buoi": 2}
        # The several-type: toggles with ☑️/⬜ marks and a Done row.
        assert "Tap every size, then Done." in asked.last["text"], asked.last["text"]
        assert h.last_buttons(OFFICER)[:4] == [
            ("⬜ size S", f"t:{sid}:1:0"), ("⬜ size M", f"t:{sid}:1:1"),
            ("⬜ size L", f"t:{sid}:1:2"), ("✔️ Xong", f"d:{sid}:1")]
        await h.tap(OFFICER, "size M")
        await h.tap(OFFICER, "size L")
        await h.tap(OFFICER, "size M")
        assert [label for label, _data in h.last_buttons(OFFICER)[:3]] == [
            "⬜ size S", "⬜ size M", "☑️ size L"]
        assert (await stored(h))["ghi_chu"] == ["L"]
        # A v: press on a several-type is not one of its buttons.
        sizes = h.message_with(OFFICER, f"d:{sid}:1")["message_id"]
        await h.press_raw(OFFICER, sizes, f"v:{sid}:1:0")
        assert (await stored(h))["ghi_chu"] == ["L"]
        await h.say(OFFICER, "Báo cáo cần nộp")
        await h.press(OFFICER, f"o:{obligation_id}")
        review = await h.tap(OFFICER, "Xong")
        assert "★★" in review.text and "L" in review.text, review.text
        assert h.errors == []


@SQLITE_ONLY
@pytest.mark.usefixtures("with_toys")
async def test_a_registered_several_type_takes_typed_picks(database_url: str) -> None:
    async with BotHarness(database_url) as h:
        await retyped_report(h)
        await h.tap(OFFICER, "★★★")
        review = await h.say(OFFICER, "s m")
        assert (await stored(h)) == {"so_buoi": 3, "ghi_chu": ["S", "M"]}
        assert "S/M" in review.text, review.text
        assert h.errors == []


# ----------------------------------------------------------------------------- escalation


async def hanoi_editor(h: BotHarness) -> Schedule:
    plan = load_plan(ROOT / "plans" / "hanoi-667-2020.yaml")
    await h.join(ADMIN, plan.consolidating, "admin", first_name="Quân")
    schedule: Schedule = (await h.rows(Schedule, order_by=Schedule.id))[0]
    return schedule


async def open_editor(h: BotHarness, schedule: Schedule) -> None:
    await h.say(ADMIN, "/admin")
    await h.press_raw(ADMIN, h.last_message(ADMIN)["message_id"], f"as:e:{schedule.id}")


@SQLITE_ONLY
async def test_the_editor_keeps_an_external_level_sharing_the_chairs_step(
        database_url: str) -> None:
    """A chain that tells the chair and the level outside the committee on the same day:
    the admin's chair delay moves the chair only; the outside level keeps its day and label."""
    async with BotHarness(database_url, plan=ROOT / "plans" / "hanoi-667-2020.yaml",
                          fake_now=dt.datetime(2020, 9, 1, 8, 0, tzinfo=HANOI)) as h:
        schedule = await hanoi_editor(h)
        policy = dict(schedule.escalation_policy)
        label = policy["steps"][-1]["label"]
        policy["steps"] = [*policy["steps"][:2],
                           {"after_days": 15, "to": ["chair", "external"], "label": label}]
        async with h.session() as session:
            await session.execute(update(Schedule).where(Schedule.id == schedule.id)
                                  .values(escalation_policy=policy))
        await open_editor(h, schedule)
        assert "Đã cập nhật lịch đôn đốc." in (await h.say(ADMIN, "2 4 8 5 5")).text
        steps = (await h.one(Schedule, Schedule.id == schedule.id)).escalation_policy["steps"]
        assert steps == [
            {"after_days": 2, "to": ["reporter", "head"]},
            {"after_days": 4, "to": ["consolidating"]},
            {"after_days": 8, "to": ["chair"]},
            {"after_days": 15, "to": ["external"], "label": label}], steps
        [audit] = await h.rows(AuditLog, AuditLog.action == "schedule.escalation")
        assert audit.details["new"]["steps"] == steps
        assert h.errors == []


@SQLITE_ONLY
async def test_the_editor_refuses_a_chain_the_plan_schema_refuses(database_url: str) -> None:
    async with BotHarness(database_url, plan=ROOT / "plans" / "hanoi-667-2020.yaml",
                          fake_now=dt.datetime(2020, 9, 1, 8, 0, tzinfo=HANOI)) as h:
        schedule = await hanoi_editor(h)
        before = schedule.escalation_policy
        await open_editor(h, schedule)
        # 99 rounds: the plan file allows at most 50.
        refused = await h.say(ADMIN, "1 3 7 5 99")
        assert refused.text.startswith("⚠️"), refused.text
        assert (await h.one(Schedule, Schedule.id == schedule.id)).escalation_policy == before
        assert await h.rows(AuditLog, AuditLog.action == "schedule.escalation") == []
        # The editor still waits for the numbers.
        assert "Đã cập nhật lịch đôn đốc." in (await h.say(ADMIN, "1 3 7 5 50")).text
        assert h.errors == []
