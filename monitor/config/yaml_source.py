"""Read one YAML configuration file safely, remembering the line of every key and item.

Rules (documented for users in config/monitor.yaml):

- Safe loading only: the document is *composed* (PyYAML's node tree) and turned into
  plain dicts, lists, strings, numbers, booleans and nulls here. Any other tag
  (``!!python/object``, ``!!binary``, ``!custom`` ...) is a problem, never constructed.
- YAML 1.2 core scalars: only ``true``/``false`` are booleans (``yes``, ``no``, ``on``,
  ``off`` stay strings), ``22:00`` is a string (not a base-60 number), dates stay strings.
- A key repeated in one mapping is a problem (PyYAML would silently keep the last one).
  Merge keys (``<<: *anchor``) work; the mapping's own keys win over merged ones.
- ``${NAME}`` in a string value is replaced by the environment variable NAME; an unset
  NAME is a problem. ``${NAME:-default}`` uses ``default`` when NAME is unset or empty.
  ``$$`` is a literal ``$``. Keys are never expanded.
- Aliases are expanded with a budget (no "billion laughs") and a nesting limit.

Every problem carries file:line. This module does no validation of meaning: that is
pydantic's job in monitor.config.models. It never raises for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from monitor.errors import ConfigProblem

Path_ = tuple[str | int, ...]

MAX_NODES = 100_000  # alias expansion budget per document
MAX_DEPTH = 40  # nesting limit (also stops self-referencing aliases)
MAX_FILE_BYTES = 5 * 1024 * 1024

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema for plain scalars (plus ``<<`` merge keys)."""


_CoreResolver.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreResolver.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_CoreResolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_CoreResolver.add_implicit_resolver(
    _NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_CoreResolver.add_implicit_resolver(_MERGE, re.compile(r"^(?:<<)$"), ["<"])


class _Composer(Reader, Scanner, Parser, Composer, _CoreResolver):
    """PyYAML's pipeline up to the node tree: nothing is ever constructed from tags."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _CoreResolver.__init__(self)


try:
    from yaml._yaml import CParser as _CParser

    class _FastComposer(_CParser, _CoreResolver):
        """The same node tree, composed by libyaml (about 10x faster); used when present."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _CoreResolver.__init__(self)

    _LOADER: type = _FastComposer
except ImportError:  # PyYAML built without libyaml
    _LOADER = _Composer


_ENV_REF = re.compile(r"\$(?:\$|\{([^}]*)\})")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_env(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand ``${NAME}``, ``${NAME:-default}`` and ``$$``; return the text and problems."""
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner is None:
            return "$"
        name, sep, default = inner.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            problems.append(f"bad reference ${{{inner}}}: use ${{NAME}} or ${{NAME:-default}}")
            return match.group(0)
        value = environ.get(name)
        if value:
            return value
        if sep:
            return default
        if value is None:
            problems.append(
                f"environment variable {name} is not set (write ${{{name}:-default}} "
                "to give a default)"
            )
        return ""

    return _ENV_REF.sub(replace, text), problems


@dataclass
class YamlDocument:
    """One file's plain data and the 1-based line of every key path."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, else of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def format_path(path: Path_) -> str:
    """``("feeds", 3, "url")`` -> ``feeds[3].url``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Budget(Exception):
    pass


class _Builder:
    """Turns a node tree into plain data, recording lines and problems."""

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file = file
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.problems: list[ConfigProblem] = []
        self.nodes = 0

    def problem(self, node: Node, path: Path_, message: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(ConfigProblem(self.file, line, format_path(path), message))

    def build(self, node: Node, path: Path_, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _Budget
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                self.problem(node, path, f"tag {_tag(node)} is not allowed here")
                return None
            return self.build_mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self.problem(node, path, f"tag {_tag(node)} is not allowed here")
                return None
            items = []
            for index, item in enumerate(node.value):
                self.lines.setdefault((*path, index), item.start_mark.line + 1)
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        assert isinstance(node, ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        own: dict[str, int] = {}
        own_pairs: list[tuple[ScalarNode, Node]] = []
        merged: list[tuple[ScalarNode, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self.problem(value_node, path, "<< must name a mapping (<<: *anchor)")
                        continue
                    merged.extend((k, v) for k, v in source.value if isinstance(k, ScalarNode))
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in (_STR, _INT, _BOOL):
                self.problem(key_node, path, "keys must be plain names")
                continue
            key = str(key_node.value)
            if key in own:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key (first given at line {own[key]}); "
                    "YAML would silently keep only the last one",
                )
                continue
            own[key] = key_node.start_mark.line + 1
            own_pairs.append((key_node, value_node))
        chosen: dict[str, tuple[ScalarNode, Node]] = {}
        for key_node, value_node in merged:  # the first merged mapping wins
            chosen.setdefault(str(key_node.value), (key_node, value_node))
        for key_node, value_node in own_pairs:  # the mapping's own keys win over merged ones
            chosen[str(key_node.value)] = (key_node, value_node)
        result: dict[str, Any] = {}
        for key, (key_node, value_node) in chosen.items():
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def build_scalar(self, node: ScalarNode, path: Path_) -> Any:
        text = node.value
        try:
            if node.tag == _STR:
                if "$" not in text:
                    return text
                expanded, problems = expand_env(text, self.environ)
                for message in problems:
                    self.problem(node, path, message)
                return expanded
            if node.tag == _NULL:
                return None
            if node.tag == _BOOL:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                return text.lower() == "true"
            if node.tag == _INT:
                return _parse_int(text)
            if node.tag == _FLOAT:
                return _parse_float(text)
        except ValueError:
            self.problem(node, path, f"{text!r} is not a valid {node.tag.rsplit(':', 1)[-1]}")
            return None
        self.problem(node, path, f"tag {_tag(node)} is not allowed (plain YAML values only)")
        return None


def _tag(node: Node) -> str:
    return node.tag.replace("tag:yaml.org,2002:", "!!")


def _parse_int(text: str) -> int:
    lowered = text.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:], 16)
    if lowered.startswith("0o"):
        return int(lowered[2:], 8)
    return int(text, 10)


def _parse_float(text: str) -> float:
    lowered = text.lower().lstrip("+")
    if lowered in (".inf", "-.inf", ".nan"):
        return float(lowered.replace(".", ""))
    return float(text)


def compose_yaml(text: str) -> Node | None:
    """The node tree of a document (positions of every key and value), for text edits.

    Raises ``yaml.YAMLError`` for invalid YAML; never constructs anything.
    """
    loader = _Composer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def parse_yaml(
    text: str, file: str, environ: Mapping[str, str]
) -> tuple[YamlDocument | None, list[ConfigProblem]]:
    """Parse ``text`` into a document (None when unreadable) and the problems found.

    Problems that leave the document usable (an unset variable, a duplicate key, a
    forbidden tag) come with the document, so validation can go on and report more.
    """
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # The parser may stop just past the last line (end of input): name the last one.
        last_line = text.count("\n") + 1
        line = min(mark.line + 1, last_line) if mark else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [ConfigProblem(file, line, "", f"invalid YAML: {message}")]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem(file, None, "", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    if node is None:
        return YamlDocument(file, {}, {(): 1}), []
    builder = _Builder(file, environ)
    try:
        data = builder.build(node, ())
    except _Budget:
        message = (
            "document too large or too deeply nested after alias expansion "
            f"(limits: {MAX_NODES} values, depth {MAX_DEPTH})"
        )
        return None, [ConfigProblem(file, node.start_mark.line + 1, "", message)]
    if not isinstance(data, dict):
        problem = ConfigProblem(file, node.start_mark.line + 1, "", "the file must be a mapping")
        return None, [*builder.problems, problem]
    builder.lines[()] = node.start_mark.line + 1
    return YamlDocument(file, data, builder.lines), builder.problems


def read_yaml(
    path: Path, environ: Mapping[str, str]
) -> tuple[YamlDocument | None, list[ConfigProblem]]:
    """Read and parse one file; a missing or unreadable file is a problem."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [ConfigProblem(file, None, "", "file not found")]
    except OSError as exc:
        return None, [ConfigProblem(file, None, "", f"cannot read: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [ConfigProblem(file, None, "", f"file larger than {MAX_FILE_BYTES} bytes")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [ConfigProblem(file, line, "", "not valid UTF-8")]
    return parse_yaml(text, file, environ)
