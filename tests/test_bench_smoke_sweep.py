"""Issue 16: the sweep's benchmarks run in smoke mode so they keep working (figures are judged
by hand, never asserted here): bench/sweep_scale.py writes a message to every member once,
and bench/memory.py reports the import's and the sweep's peaks apart."""

from __future__ import annotations

from tests.test_bench_smoke import run


def test_sweep_scale_smoke_writes_every_member_once() -> None:
    result = run("sweep_scale.py", "--smoke")
    assert result["members"] == 300 and result["database"] == "sqlite"
    assert result["written"] == result["outbox_rows"] == 300
    assert result["first_commit_s"] <= result["sweep_s"]
    assert result["write_transactions"] >= 1 and result["longest_write_s"] > 0
    assert result["peak_mb"] > 0 and result["commit"]


def test_memory_smoke_reports_import_and_sweep_peaks() -> None:
    result = run("memory.py", "--smoke")
    assert result["messages"] == result["agencies"] == 300
    assert result["import_peak_mb"] > 0 and result["sweep_peak_mb"] > 0
    assert result["commit"]


def test_sweep_scale_smoke_on_postgresql(empty_postgres_url: str) -> None:
    result = run("sweep_scale.py", "--smoke", "--database-url", empty_postgres_url)
    assert result["database"] == "postgresql"
    assert result["written"] == result["outbox_rows"] == 300
