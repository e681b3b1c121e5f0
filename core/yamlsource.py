"""Load YAML while remembering the line of every key, so errors can point at the source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

# Limits that keep a hostile file from exhausting memory, time or the stack. The shipped plans
# (plans/*.yaml) are at most 60 KB, 2,565 YAML nodes and 8 levels deep; the benchmark plans
# (bench/fanout.py --agencies 10000) reach 861 KB and 90,097 nodes. The limits sit well above
# both: a real plan never gets near them, and parsing stays within seconds and megabytes.
MAX_BYTES = 4_000_000
MAX_NODES = 250_000  # every key, value and list item counts; aliases are refused
MAX_DEPTH = 64  # nested mappings and lists


@dataclass
class SourceError:
    file: str
    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


@dataclass
class LoadedYaml:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    errors: list[SourceError] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of the deepest known prefix of `path`."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Refused(Exception):
    def __init__(self, mark: Any, reason: str):  # yaml.error.Mark or the C loader's
        super().__init__(reason)
        self.line = mark.line + 1 if mark else None
        self.reason = reason


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and stops at MAX_NODES nodes or MAX_DEPTH levels while
    composing, before anything is built: an alias bomb ("billion laughs") or 10,000 nested
    brackets never gets expanded or recursed into."""

    def __init__(self, text: str):
        super().__init__(text)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event.start_mark,
                f"YAML aliases are not allowed in a plan file (*{event.anchor}); "
                "write the value out in full",
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(
                event.start_mark,
                f"too many values: a plan file may hold at most {MAX_NODES} keys, values "
                "and list items",
            )
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                event.start_mark,
                f"nested too deeply: a plan file may nest at most {MAX_DEPTH} levels",
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def size_error(filename: str) -> SourceError:
    return SourceError(
        filename, None, "", f"the file is too large: a plan file may be at most {MAX_BYTES} bytes"
    )


def load_yaml(text: str, filename: str) -> LoadedYaml:
    """Parse `text`; syntax errors, duplicate keys, impossible dates, aliases and files over
    the limits above become SourceErrors."""
    result = LoadedYaml(data=None)
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        result.errors.append(size_error(filename))
        return result
    loader = _GuardedLoader(text)
    try:
        node = loader.get_single_node()
    except _Refused as exc:
        result.errors.append(SourceError(filename, exc.line, "", exc.reason))
        return result
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        result.errors.append(SourceError(filename, line, "", f"YAML syntax error: {reason}"))
        return result
    finally:
        loader.dispose()
    if node is None:
        result.errors.append(SourceError(filename, 1, "", "the file is empty"))
        return result
    result.data = _build(node, (), loader, result, filename)
    return result


def _build(node: yaml.Node, path: Path, loader: yaml.SafeLoader, out: LoadedYaml, fn: str) -> Any:
    out.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path, loader, out, fn)
            if not isinstance(key, str | int | bool | float) or key is None:
                key = str(key)
            child = (*path, key if isinstance(key, str | int) else str(key))
            if key in mapping:
                out.errors.append(
                    SourceError(
                        fn, key_node.start_mark.line + 1, format_path(child),
                        f"duplicate key '{key}'",
                    )
                )
                continue
            out.lines[child] = key_node.start_mark.line + 1
            mapping[key] = _build(value_node, child, loader, out, fn)
            out.lines[child] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, i), loader, out, fn) for i, item in enumerate(node.value)
        ]
    return _scalar(node, path, loader, out, fn)


def _scalar(node: yaml.Node, path: Path, loader: yaml.SafeLoader, out: LoadedYaml, fn: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _build(node, path, loader, out, fn)
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, yaml.constructor.ConstructorError) as exc:
        # PyYAML builds dates eagerly, so 2022-02-30 fails right here.
        out.errors.append(
            SourceError(
                fn, node.start_mark.line + 1, format_path(path),
                f"impossible value {node.value!r}: {exc}",
            )
        )
        return node.value
