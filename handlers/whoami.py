"""/id: a person's numeric Telegram id, for the admin who fills BOT_ADMINS (strangers too).

/channel (/kenh): which channel gets unprompted messages — Telegram, Zalo, or the one used
last (the default) — and a single-use code to connect the other channel to this account.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from core import callbacks
from core.channels import CHANNELS, TELEGRAM, ZALO, Channel, channel_of
from core.choices import Choice
from core.formatting import format_datetime
from core.i18n import N_
from core.texts import esc
from db.audit import record
from db.invites import create_invite, deep_link
from db.models import Agency, Member
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES

YOUR_ID = N_("Your Telegram id: {id}")
NO_ZALO_ID = N_("On Zalo there is no id to give: an admin joins with an admin's invite code "
                "from the standing office.")
CHANNEL = callbacks.route("cn")
NAMES: dict[str, str] = {TELEGRAM: "Telegram", ZALO: "Zalo"}
LINK_LIFETIME = dt.timedelta(days=1)


@with_turn(members_only=False)
async def show_id(t: Turn) -> None:
    user = t.update.effective_user
    if user is None:  # a channel post has no sender (the chat guard drops those first)
        return
    if channel_of(user.id) == ZALO:  # BOT_ADMINS holds Telegram ids only
        t.send(t._(NO_ZALO_ID))
        return
    t.send(t._(YOUR_ID).format(id=f"<code>{user.id}</code>"))


def connected(member: Member) -> list[Channel]:
    return [c for c in CHANNELS
            if (member.telegram_user_id if c == TELEGRAM else member.zalo_user_id) is not None]


def _screen(t: Turn) -> None:
    _ = t._
    m = t.member
    assert m is not None
    chosen = m.preferred_channel
    current = NAMES[channel_of(m.reach)]
    lines = ["📨 <b>" + _("Notifications") + "</b>",
             _("Reminders and notices go to: {channel}").format(channel=current)
             + ("" if chosen else " " + _("(the channel you used last)")),
             _("Connected: {channels}").format(
                 channels=", ".join(NAMES[c] for c in connected(m)))]
    rows = [[Choice(("✔️ " if chosen == c else "") + _("Always on {channel}").format(
        channel=NAMES[c]), CHANNEL.data("p", c))] for c in connected(m)]
    rows.append([Choice(("✔️ " if chosen is None else "") + _("The channel I used last"),
                        CHANNEL.data("p", "last"))])
    missing = [c for c in CHANNELS if c not in connected(m)]
    if missing:
        rows.append([Choice("🔗 " + _("Connect {channel}").format(channel=NAMES[missing[0]]),
                            CHANNEL.data("l"))])
    t.send("\n".join(lines), choices=rows)


@with_turn
async def show_channels(t: Turn) -> None:
    _screen(t)


@with_turn
async def on_channel(t: Turn) -> None:
    _ = t._
    m = t.member
    assert m is not None
    parts = CHANNEL.parse(t.data)
    if parts[:1] == ["p"] and len(parts) == 2 and parts[1] in (*connected(m), "last"):
        chat = t.update.effective_chat
        if parts[1] == "last":
            m.preferred_channel = None
            if chat is not None:
                m.chat_id = chat.id
        else:
            m.preferred_channel = parts[1]
            m.chat_id = m.telegram_user_id if parts[1] == TELEGRAM else m.zalo_user_id
        record(t.session, "member.channel", actor=m, committee_id=m.committee_id,
               agency_id=m.agency_id, entity=("member", m.id),
               details={"preferred": m.preferred_channel}, now=t.now)
        _screen(t)
        return
    if parts == ["l"] and m.agency_id is not None and m.role_set:
        agency = await t.session.get(Agency, m.agency_id)
        assert agency is not None
        created = await create_invite(t.session, agency, sorted(m.role_set)[0], LINK_LIFETIME,
                                      created_by_member_id=m.id, now=t.now,
                                      for_member_id=m.id)
        until = format_datetime(created.invite.expires_at, t.locale, t.tz)
        code = f"<code>{esc(created.code)}</code>"
        if TELEGRAM not in connected(m):
            link = deep_link(t.settings.bot_username, created.code)
            text = _("To connect Telegram, open this link in Telegram (single use, valid "
                     "until {time}):").format(time=until) + f"\n{esc(link)}"
        else:
            text = _("To connect Zalo, send this code to the committee's Zalo bot (single "
                     "use, valid until {time}):").format(time=until) + f"\n{code}"
        t.send("🔗 " + text)
        return
    t.stale()


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("id", show_id), group=FEATURES)
    app.add_handler(CommandHandler(["channel", "kenh"], show_channels), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_channel, pattern=CHANNEL.pattern), group=FEATURES)
