"""The benchmarks run in smoke mode (small sizes) so they keep working. Figures are judged
by hand (docs/benchmarks.md), never asserted here: only correctness is, such as no
duplicate and no lost message in the fan-out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(script: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(lines[-1])


def test_fanout_smoke_delivers_every_message_once() -> None:
    result = run("fanout.py", "--smoke")
    assert result["delivered"] == result["messages"] > 0
    assert result["duplicates"] == 0 and result["lost"] == 0


@pytest.mark.parametrize("mode", [["--latency-ms", "50"], ["--no-limit"]])
def test_fanout_smoke_with_latency_and_without_limit(mode: list[str]) -> None:
    result = run("fanout.py", "--smoke", *mode)
    assert result["delivered"] == result["messages"] > 0
    assert result["duplicates"] == 0 and result["lost"] == 0
    assert result["commit"] and result["python_ref_ms"] > 0


def test_sweep_cost_smoke_runs() -> None:
    result = run("sweep_cost.py", "--smoke")
    assert result["due"] == 100 and result["sweep_median_s"] > 0


@pytest.mark.parametrize("script", ["memory.py", "updates.py"])
def test_other_benchmarks_smoke_run(script: str) -> None:
    result = run(script, "--smoke")
    assert result  # a JSON line with the figures
