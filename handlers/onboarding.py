"""/start (with or without an invite code), /help, /lang."""

from __future__ import annotations

from sqlalchemy import select
from telegram import Update

from core.i18n import N_
from core.texts import esc
from db.invites import InviteProblem, claim_invite, hash_code
from db.models import Agency, AuditLog, Committee, Invite, Member, MemberRole, Role
from handlers.context import Turn
from handlers.menu import help_text, menu_for
from handlers.render import member_role_name

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


def stranger_welcome(t: Turn) -> str:
    return t._(
        "Hello! This bot helps agencies send their reports to the steering committee.\n\n"
        "To use it you need an <b>invite link</b> from your committee's standing office or "
        "its admin. Open that link, or send /start followed by the invite code."
    )


def _full_name(update: Update) -> str:
    user = update.effective_user
    return user.full_name if user else ""


async def ensure_admin(t: Turn) -> None:
    """Users listed in BOT_ADMINS are admins from their first message."""
    user = t.update.effective_user
    if user is None or user.id not in t.settings.bot_admins:
        return
    if t.member is None:
        t.member = Member(telegram_user_id=user.id, full_name=_full_name(t.update),
                          username=user.username, telegram_language=user.language_code,
                          chat_id=user.id)
        t.session.add(t.member)
        await t.session.flush()
        await t.session.refresh(t.member, ["roles"])
    if Role.admin not in t.member.role_set:
        t.member.roles.append(MemberRole(role=Role.admin))
        await t.session.flush()


async def start(t: Turn, code: str | None) -> None:
    _ = t._
    await ensure_admin(t)
    if code:
        await redeem(t, code.strip())
        return
    if not t.bound:
        t.send(stranger_welcome(t))
        return
    assert t.member is not None
    agency = t.member.agency
    lines = [_("Hello, {name}!").format(name=esc(t.member.full_name))]
    if agency is not None:
        lines.append(_("Agency: {agency}").format(agency=esc(agency.name)))
    lines.append(_("Choose an item from the menu below."))
    t.send("\n".join(lines), reply_markup=menu_for(t))


async def redeem(t: Turn, code: str) -> None:
    _ = t._
    user = t.update.effective_user
    assert user is not None
    # Look before claiming: a member of another agency must not burn someone else's code.
    invite = await t.session.scalar(select(Invite).where(Invite.code_hash == hash_code(code)))
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
        member = Member(telegram_user_id=user.id, full_name=_full_name(t.update),
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
    t.session.add(AuditLog(
        at=t.now, actor_member_id=member.id, actor_telegram_id=user.id, action="member.join",
        committee_id=agency.committee_id, agency_id=agency.id, entity_type="invite",
        entity_id=result.id,
        details={"role": result.role.value, "invited_by": result.created_by_member_id},
    ))
    t.member = member
    t.send(
        "✅ " + _("Welcome, {name}! Your account is now attached to {agency} as {role}.").format(
            name=esc(member.full_name), agency=esc(agency.name),
            role=esc(member_role_name(_, result.role,
                                      await t.session.get(Committee, agency.committee_id),
                                      agency.id)))
        + "\n\n" + _("Tap «Reports due» to see what your agency has to send."),
        reply_markup=menu_for(t),
    )


def show_help(t: Turn) -> None:
    if not t.bound:
        t.send(stranger_welcome(t))
        return
    t.send(help_text(t._), reply_markup=menu_for(t))
