"""The sandbox's clock face: Hà Nội time, and the moments a tester types («12/03 08:00»)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def parse_moment(text: str, now: dt.datetime) -> dt.datetime:
    """«12/03 08:00», «12/3 8h», «12/03/2022 08:00», «12/03» (08:00) or ISO 8601, in Hà Nội
    time; without a year, the year of the simulated `now`."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError("Hãy nhập ngày giờ, ví dụ 12/03 08:00.")
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=TZ)
    parts = raw.replace(",", " ").replace("lúc", " ").split()
    date_part = parts[0]
    time_part = parts[1] if len(parts) > 1 else "08:00"
    try:
        pieces = [int(x) for x in date_part.replace("-", "/").replace(".", "/").split("/")]
        if len(pieces) == 2:
            day, month = pieces
            year = now.astimezone(TZ).year
        elif len(pieces) == 3:
            day, month, year = pieces
            year = year + 2000 if year < 100 else year
        else:
            raise ValueError
        clean = time_part.lower().replace("h", ":").rstrip(":")
        hour_s, _, minute_s = clean.partition(":")
        hour, minute = int(hour_s), int(minute_s or 0)
        return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)
    except (ValueError, IndexError) as exc:
        raise ValueError(
            f"Không đọc được «{raw}». Hãy nhập dạng ngày/tháng giờ:phút, ví dụ 12/03 08:00."
        ) from exc
