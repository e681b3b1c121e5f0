"""Load YAML while remembering the line of every key, so errors can point at the source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


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


def load_yaml(text: str, filename: str) -> LoadedYaml:
    """Parse `text`; syntax errors, duplicate keys and impossible dates become SourceErrors."""
    loader = yaml.SafeLoader(text)
    result = LoadedYaml(data=None)
    try:
        node = loader.get_single_node()
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
