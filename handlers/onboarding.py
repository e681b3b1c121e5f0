"""/start (with or without an invite code) and /help."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from telegram import Update
from telegram.ext import Application, CommandHandler

from core.channels import ZALO, channel_of
from core.i18n import N_
from core.texts import esc
from db.audit import record
from db.invites import InviteProblem, claim_invite, hash_code
from db.models import Agency, Committee, Invite, Member, MemberRole
from handlers.context import Turn, ensure_admin, follow_channel, identity, with_turn
from handlers.groups import FEATURES
from handlers.render import member_role_name
from handlers.screens import menu_for, show_help, stranger_welcome

INVITE_PROBLEMS = {
    InviteProblem.unknown: N_("This invite code is not valid. Please check the link, or ask "
                              "the standing office for a new one."),
    InviteProblem.used: N_("This invite code has already been used. Each code works only "
                           "once; please ask the standing office for a new one."),
    InviteProblem.expired: N_("This invite code has expired. Please ask the standing office "
                              "for a new one."),
    InviteProblem.revoked: N_("This invite code has been revoked. Please ask the standing "
                              "office for a new one."),
}


def _full_name(update: Update) -> str:
    user = update.effective_user
    return user.full_name if user else ""


async def start(t: Turn, code: str | None) -> None:
    _ = t._
    await ensure_admin(t)
    if code:
        await redeem(t, code.strip())
        return
    if not t.bound:
        t.send(stranger_welcome(t._))
        return
    assert t.member is not None
    agency = t.member.agency
    lines = [_("Hello, {name}!").format(name=esc(t.member.full_name))]
    if agency is not None:
        lines.append(_("Agency: {agency}").format(agency=esc(agency.name)))
    lines.append(_("Choose an item from the menu below."))
    t.send("\n".join(lines), menu=menu_for(t))


async def redeem(t: Turn, code: str) -> None:
    _ = t._
    user = t.update.effective_user
    assert user is not None
    # Look before claiming: a member of another agency must not burn someone else's code.
    invite = await t.session.scalar(select(Invite).where(Invite.code_hash == hash_code(code)))
    if invite is not None and invite.for_member_id is not None:
        await connect_channel(t, code, invite)
        return
    member = t.member
    if (
        invite is not None and member is not None and member.agency_id is not None
        and member.agency_id != invite.agency_id and member.active
    ):
        current = await t.session.get(Agency, member.agency_id)
        t.send(_("Your account is already attached to {agency}. One account belongs to one "
                 "agency; please ask the standing office if you need to move.").format(
                     agency=esc(current.name if current else "?")))
        return
    if member is None:
        member = Member(**identity(user.id), full_name=_full_name(t.update),
                        username=user.username, telegram_language=user.language_code,
                        chat_id=t.update.effective_chat.id if t.update.effective_chat else user.id)
        t.session.add(member)
        await t.session.flush()
        await t.session.refresh(member, ["roles"])
    result = await claim_invite(t.session, code, member.id, t.now)
    if isinstance(result, InviteProblem):
        if t.member is None:
            await t.session.delete(member)  # nothing was bound: leave no trace of a stranger
        t.send("⚠️ " + _(INVITE_PROBLEMS[result]))
        return
    agency = await t.session.get(Agency, result.agency_id)
    assert agency is not None
    member.agency_id = agency.id
    member.committee_id = agency.committee_id
    member.active = True
    member.inactive_reason = None
    member.full_name = _full_name(t.update) or member.full_name
    member.username = user.username
    member.chat_id = t.update.effective_chat.id if t.update.effective_chat else user.id
    if result.role not in member.role_set:
        member.roles.append(MemberRole(role=result.role))
    record(t.session, "member.join", actor=member, committee_id=agency.committee_id,
           agency_id=agency.id, entity=("invite", result.id),
           details={"role": result.role.value, "invited_by": result.created_by_member_id},
           now=t.now)
    t.member = member
    t.send(
        "✅ " + _("Welcome, {name}! Your account is now attached to {agency} as {role}.").format(
            name=esc(member.full_name), agency=esc(agency.name),
            role=esc(member_role_name(_, result.role,
                                      await t.session.get(Committee, agency.committee_id),
                                      agency.id)))
        + "\n\n" + _("Tap «Reports due» to see what your agency has to send."),
        menu=menu_for(t),
    )


async def connect_channel(t: Turn, code: str, invite: Invite) -> None:
    """A code a member made (/channel) binds this channel's account to that member."""
    _ = t._
    user = t.update.effective_user
    assert user is not None
    target = await t.session.get(Member, invite.for_member_id)
    mine = t.member
    if target is None or (mine is not None and mine.id != target.id and mine.active
                          and mine.agency_id is not None):
        t.send("⚠️ " + _("This account is already attached to another person in the bot; "
                        "it cannot be connected to a second one. Please ask the standing "
                        "office."))
        return
    result = await claim_invite(t.session, code, target.id, t.now)
    if isinstance(result, InviteProblem):
        t.send("⚠️ " + _(INVITE_PROBLEMS[result]))
        return
    if mine is not None and mine.id != target.id:
        # An account row of this channel that belonged to nobody (a former member):
        # its identity moves to the person who connects it.
        for column in identity(user.id):
            setattr(mine, column, None)
        await t.session.flush()
    for column, value in identity(user.id).items():
        setattr(target, column, value)
    follow_channel(target, t.update.effective_chat.id if t.update.effective_chat else user.id)
    record(t.session, "member.connect", actor=target, committee_id=target.committee_id,
           agency_id=target.agency_id, entity=("invite", invite.id),
           details={"channel": channel_of(user.id)}, now=t.now)
    t.member = target
    t.send("✅ " + _("This {channel} account is now connected to {name}. Reports and "
                    "notices work here too; /channel chooses where reminders go.").format(
                        channel="Zalo" if channel_of(user.id) == ZALO else "Telegram",
                        name=esc(target.full_name)), menu=menu_for(t))


@with_turn(members_only=False)
async def on_start(t: Turn) -> None:
    args = t.context.args
    await start(t, args[0] if args else None)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("start", on_start), group=FEATURES)
    app.add_handler(CommandHandler("help", with_turn(show_help, members_only=False)),
                    group=FEATURES)
