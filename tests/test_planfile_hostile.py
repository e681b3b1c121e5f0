"""Hostile plan files (issue 10): alias bombs, deep nesting, huge files and node counts are
refused whole, with file, line and reason, through the same path as any other plan error."""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import yamlsource
from core.planfile import PlanFileError, load_plan, parse_plan
from core.yamlsource import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml
from tests.conftest import PLANS, ROOT, cli_env

MINI_PATH = ROOT / "tests" / "data" / "mini-plan.yaml"
MINI = MINI_PATH.read_text(encoding="utf-8")


def billion_laughs(levels: int = 9) -> str:
    """The classic: 9 levels of 9 aliases each, 9**10 ≈ 3.5 billion strings once expanded."""
    lines = ["format: 1", "lol0: &lol0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging and eating memory) when the block runs longer than `seconds`."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refusal(text: str, filename: str = "hostile.yaml") -> PlanFileError:
    with pytest.raises(PlanFileError) as info:
        parse_plan(text, filename)
    return info.value


def validate_cli(path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot plan validate PATH`, with a 1 GiB address-space cap as a safety net."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "bot", "plan", "validate", str(path)],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=cap_memory,
    )


# ------------------------------------------------------------------ aliases


def test_billion_laughs_is_refused_at_once_without_memory() -> None:
    text = billion_laughs()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    started = time.monotonic()
    try:
        with deadline(3):
            error = refusal(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not tracing:
            tracemalloc.stop()
    assert time.monotonic() - started < 3
    assert peak < 20 * 1024 * 1024  # far from the gigabytes the expansion would take
    [only] = error.errors
    assert (only.file, only.line, only.path) == ("bomb.yaml", 3, "")  # the first alias
    assert "alias" in only.reason and "*lol0" in only.reason
    assert str(only).startswith("bomb.yaml:3: YAML aliases are not allowed")


def test_even_a_harmless_alias_is_refused_with_its_line() -> None:
    # Plans never use anchors; refusing aliases is simpler and clearer than capping them,
    # and an error inside an aliased value would otherwise point at the anchor's line.
    text = MINI.replace(
        "  standing_office: ldtbxh\n", "  standing_office: &so ldtbxh\n  chair: *so\n", 1
    )
    assert text != MINI
    line = text.splitlines().index("  chair: *so") + 1
    [only] = refusal(text, "alias.yaml").errors
    assert only.line == line
    assert "*so" in only.reason


def test_an_anchor_without_alias_is_harmless() -> None:
    loaded = load_yaml("a: &x 1\nb: 2\n", "anchor.yaml")
    assert loaded.errors == []
    assert loaded.data == {"a": 1, "b": 2}


# ------------------------------------------------------------------ nesting


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{a: ", "}")])
def test_ten_thousand_levels_are_refused_with_file_and_line(opening: str, closing: str) -> None:
    text = MINI + "notes: " + opening * 10_000 + "1" + closing * 10_000 + "\n"
    with deadline(10):
        [only] = refusal(text, "deep.yaml").errors
    assert only.file == "deep.yaml"
    assert only.line == MINI.count("\n") + 1
    assert only.reason == f"nested too deeply: a plan file may nest at most {MAX_DEPTH} levels"


def test_depth_limit_points_at_the_first_level_too_deep() -> None:
    # The root mapping is level 1, y's list level 2, the k-th «[» (on line 1 + k) level k + 1.
    text = "x: 1\ny: " + "[\n" * 10_000 + "]" * 10_000 + "\n"
    loaded = load_yaml(text, "deep.yaml")
    [only] = loaded.errors
    assert only.line == MAX_DEPTH + 1


def test_depth_up_to_the_limit_is_accepted() -> None:
    ok = load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "ok.yaml")
    assert ok.errors == []
    too_deep = load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deep.yaml")
    assert [e.line for e in too_deep.errors] == [1]


def test_deep_block_mappings_are_refused() -> None:
    text = "".join("  " * k + f"k{k}:\n" for k in range(MAX_DEPTH + 5)) + "  " * 70 + "v\n"
    [only] = load_yaml(text, "block.yaml").errors
    # The root is level 1 and the value of k{n} (on line n + 1) level n + 2: PyYAML marks a
    # block mapping from the key that opens it, so the error points at k63, on line 64.
    assert only.line == MAX_DEPTH
    assert "nested too deeply" in only.reason


# ------------------------------------------------------------------ size and node count


def test_file_over_the_byte_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    padding = "# " + "x" * 78 + "\n"
    text = MINI + padding * (MAX_BYTES // len(padding) + 1)
    assert len(text.encode()) > MAX_BYTES
    path = tmp_path / "huge.yaml"
    path.write_text(text, encoding="utf-8")
    with deadline(10), pytest.raises(PlanFileError) as info:
        load_plan(path)
    [only] = info.value.errors
    assert (only.file, only.line) == (str(path), None)
    assert str(only) == (
        f"{path}: the file is too large: a plan file may be at most {MAX_BYTES} bytes"
    )
    # parse_plan (text already in memory) refuses it the same way.
    [same] = refusal(text, str(path)).errors
    assert same == only


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = "a: " + "ệ" * (MAX_BYTES // 3 + 1) + "\n"  # fewer characters than MAX_BYTES
    assert len(text) < MAX_BYTES < len(text.encode())
    [only] = load_yaml(text, "vi.yaml").errors
    assert "too large" in only.reason


def test_too_many_nodes_are_refused_with_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Composing MAX_NODES nodes takes seconds; a lower limit shows the same path quickly.
    monkeypatch.setattr(yamlsource, "MAX_NODES", 100)
    text = "a: 1\nitems:\n" + "".join(f"  - {i}\n" for i in range(200))
    [only] = load_yaml(text, "many.yaml").errors
    # 1 root + 4 nodes for a and items + 95 items fit; the 96th item (line 98) is one too many.
    assert only.line == 2 + 96
    assert only.reason == (
        "too many values: a plan file may hold at most 100 keys, values and list items"
    )
    assert load_yaml("[" + "0, " * 98 + "]", "fits.yaml").errors == []


@pytest.mark.parametrize("path", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_plans_stay_far_below_the_limits(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shipped plan still loads with limits ten times lower than the real ones."""
    monkeypatch.setattr(yamlsource, "MAX_BYTES", MAX_BYTES // 10)
    monkeypatch.setattr(yamlsource, "MAX_NODES", MAX_NODES // 10)
    monkeypatch.setattr(yamlsource, "MAX_DEPTH", 16)
    assert load_yaml(path.read_text(encoding="utf-8"), str(path)).errors == []


# ------------------------------------------------------------------ the CLI


def test_cli_refuses_billion_laughs(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    result = validate_cli(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:3: YAML aliases are not allowed in a plan file")
    assert result.stdout == ""


def test_cli_refuses_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(MINI + "notes: " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    result = validate_cli(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = MINI.count("\n") + 1
    assert result.stderr.splitlines() == [
        f"{path}:{line}: nested too deeply: a plan file may nest at most {MAX_DEPTH} levels"
    ]


def test_cli_refuses_a_file_over_the_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    padding = "# " + "x" * 78 + "\n"
    path.write_text(MINI + padding * (MAX_BYTES // len(padding) + 1), encoding="utf-8")
    result = validate_cli(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{path}: the file is too large: a plan file may be at most {MAX_BYTES} bytes"
    ]
