"""Whether SQLite's write lock is held, as another connection finds it."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def write_lock_taken(path: Path | str) -> bool:
    """True if another connection cannot take the write lock now (it does not wait)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        assert "locked" in str(error), error
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()
