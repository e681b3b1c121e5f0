"""Maintain the Vietnamese catalog: `python scripts/catalog.py missing` lists untranslated
msgids; `python scripts/catalog.py apply FILE.json` fills translations from a JSON object
{msgid: msgstr} (handy when adding many strings at once)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "locales" / "vi" / "LC_MESSAGES" / "messages.po"


def main(argv: list[str]) -> int:
    with PO.open("rb") as fh:
        catalog = read_po(fh, locale="vi")
    if argv[:1] == ["missing"]:
        missing = {
            (m.id[0] if isinstance(m.id, tuple) else m.id): ""
            for m in catalog
            if m.id and not (m.string if isinstance(m.string, str) else any(m.string))
        }
        print(json.dumps(missing, ensure_ascii=False, indent=1))
        return 0
    if argv[:1] == ["apply"] and len(argv) == 2:
        updates = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        for message in catalog:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            if not updates.get(key):
                continue
            if isinstance(message.id, tuple):  # Vietnamese has a single plural form
                message.string = (updates[key],) * catalog.num_plurals
            else:
                message.string = updates[key]
            message.flags.discard("fuzzy")
        with PO.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, sort_output=True)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
