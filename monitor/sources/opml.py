"""OPML import and export: read a reader's subscription list, write ours, merge into feeds.yaml.

``read_opml`` parses with lxml without entity expansion, DTD loading or network access
(no XXE, no entity bomb). Outlines with an ``xmlUrl`` are feeds; the outlines they are
nested in, and their ``category`` attribute, become tags. ``write_opml`` nests each feed
under its tags, so a read of what it wrote gives the same feeds back.

``merge_into_feeds_yaml`` appends feeds not already present (by feed URL identity) to
feeds.yaml as YAML text: the existing text and comments are kept byte for byte, the
result is validated before it replaces the file (atomically), and a broken file is
never edited. It fetches nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from lxml import etree

from monitor.config.loader import validate_text
from monitor.config.models import FeedsFile
from monitor.config.types import feed_url_key, parse_http_url
from monitor.config.yaml_source import compose_yaml
from monitor.core.models import Feed
from monitor.errors import ConfigError, ConfigProblem

MAX_OPML_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """A feed found in (or written to) an OPML file."""

    url: str
    name: str
    tags: tuple[str, ...] = ()


def _local(tag: object) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _feed_url(raw: str) -> str:
    """``feed://host/x`` -> ``http://host/x``, ``feed:https://...`` -> ``https://...``."""
    url = raw.strip()
    lowered = url.lower()
    if lowered.startswith("feed:http://") or lowered.startswith("feed:https://"):
        return url[5:]
    if lowered.startswith("feed://"):
        return "http://" + url[7:]
    return url


def _category_tags(value: str | None) -> list[str]:
    """OPML ``category="/News/World,tech"`` -> ``["News", "World", "tech"]``."""
    return [
        part.strip()
        for item in (value or "").split(",")
        for part in item.split("/")
        if part.strip()
    ]


def read_opml(
    data: bytes, *, source: str = "OPML", problems: list[ConfigProblem] | None = None
) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order, one per feed URL.

    Raises ``ConfigError`` when ``data`` is not OPML. Outlines whose URL is not
    http(s) are skipped; each is reported in ``problems`` when a list is given.
    """
    if len(data) > MAX_OPML_BYTES:
        raise ConfigError([ConfigProblem(source, None, "", "OPML file too large")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        raise ConfigError([ConfigProblem(source, line, "", f"not valid XML: {exc.msg}")]) from exc
    if root is None or _local(root.tag) != "opml":
        found = f"<{_local(root.tag)}>" if root is not None else "nothing"
        raise ConfigError([ConfigProblem(source, 1, "", f"not an OPML document: found {found}")])
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ConfigError([ConfigProblem(source, root.sourceline, "", "OPML without <body>")])

    feeds: dict[str, OpmlFeed] = {}

    def visit(element: etree._Element, folders: tuple[str, ...]) -> None:
        for outline in element:
            if _local(outline.tag) != "outline":
                continue
            attrs = {str(k).lower(): str(v) for k, v in outline.attrib.items()}
            label = _clean(attrs.get("title") or attrs.get("text"))
            if "xmlurl" not in attrs:
                visit(outline, (*folders, label) if label else folders)
                continue
            try:
                url = parse_http_url(_feed_url(attrs["xmlurl"]))
            except ValueError as exc:
                if problems is not None:
                    problems.append(ConfigProblem(source, outline.sourceline, "xmlUrl", str(exc)))
                continue
            tags = tuple(dict.fromkeys([*folders, *_category_tags(attrs.get("category"))]))
            key = feed_url_key(url)
            if key in feeds:  # the same feed in two folders: one feed, both tags
                known = feeds[key]
                feeds[key] = OpmlFeed(
                    known.url, known.name, tuple(dict.fromkeys(known.tags + tags))
                )
                continue
            feeds[key] = OpmlFeed(url, label or urlsplit(url).hostname or url, tags)

    visit(body, ())
    return list(feeds.values())


def write_opml(feeds: Iterable[Feed | OpmlFeed], *, title: str = "monitor feeds") -> bytes:
    """An OPML 2.0 document; each feed sits in nested folders named by its tags."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    folders: dict[tuple[str, ...], etree._Element] = {(): body}
    for feed in feeds:
        parent = body
        for depth in range(1, len(feed.tags) + 1):
            path = feed.tags[:depth]
            if path not in folders:
                folders[path] = etree.SubElement(parent, "outline", text=path[-1], title=path[-1])
            parent = folders[path]
        attrs = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        language = getattr(feed, "language", None)
        if language:
            attrs["language"] = language
        etree.SubElement(parent, "outline", attrs)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax) with ``$`` escaped as ``$$``."""
    return json.dumps(text, ensure_ascii=False).replace("$", "$$")


def _feed_yaml(feed: OpmlFeed, indent: str, newline: str) -> str:
    lines = [f"{indent}- url: {_quote(feed.url)}", f"{indent}  name: {_quote(feed.name)}"]
    if feed.tags:
        lines.append(f"{indent}  tags: [{', '.join(_quote(tag) for tag in feed.tags)}]")
    return newline.join(lines) + newline


def _last_end(node: yaml.Node) -> int:
    """The end offset of the last scalar inside ``node``."""
    if isinstance(node, yaml.ScalarNode):
        return int(node.end_mark.index)
    ends = [
        _last_end(child)
        for item in node.value
        for child in (item if isinstance(item, tuple) else (item,))
    ]
    return max(ends, default=int(node.end_mark.index))


def _line_end(text: str, index: int, newline: str) -> tuple[str, int]:
    """Position just after the line holding ``index`` (adding a final newline if needed)."""
    end = text.find("\n", index)
    if end < 0:
        return text + newline, len(text) + len(newline)
    return text, end + 1


def _append_feeds(text: str, block: list[OpmlFeed], newline: str) -> str:
    """``text`` with ``block`` added to its ``feeds:`` list, nothing else changed."""
    root = compose_yaml(text)
    if root is None or not isinstance(root, yaml.MappingNode):
        prefix = text if not text or text.endswith("\n") else text + newline
        items = "".join(_feed_yaml(f, "  ", newline) for f in block)
        return f"{prefix}feeds:{newline}{items}"
    pairs = [(k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "feeds"]
    if not pairs:
        prefix = text if text.endswith("\n") else text + newline
        items = "".join(_feed_yaml(f, "  ", newline) for f in block)
        return f"{prefix}feeds:{newline}{items}"
    key, value = pairs[0]
    if isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value:
        items = "".join(_feed_yaml(f, " " * value.start_mark.column, newline) for f in block)
        if root.value[-1][0] is key:  # feeds: is the last key: add at the end of the file
            text = text if text.endswith("\n") else text + newline
            at = len(text)
        else:
            text, at = _line_end(text, _last_end(value) - 1, newline)
        return text[:at] + items + text[at:]
    empty_flow = isinstance(value, yaml.SequenceNode) and not value.value
    empty_scalar = isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")
    if not (empty_flow or empty_scalar):
        raise ConfigError(
            [ConfigProblem("", key.start_mark.line + 1, "feeds", "feeds: is not a block list")]
        )
    start, end = value.start_mark.index, value.end_mark.index
    text = text[:start] + text[end:]  # drop "[]" / "null", keep any comment
    items = "".join(_feed_yaml(f, "  ", newline) for f in block)
    text, at = _line_end(text, key.start_mark.index, newline)
    return text[:at] + items + text[at:]


def merge_into_feeds_yaml(
    path: Path,
    new_feeds: Iterable[OpmlFeed | Feed],
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[list[OpmlFeed], list[OpmlFeed | Feed]]:
    """Append the feeds not yet in ``path``; return (added, skipped as already present).

    Names are made unique (" 2", " 3" ...). Raises ``ConfigError`` when the file is
    invalid before or would be invalid after the edit; the file is then left as it was.
    """
    file = str(path)
    text = ""
    if path.exists():
        with open(path, encoding="utf-8", newline="") as handle:  # keep \r\n as it is
            text = handle.read()
    current, problems = validate_text(text, file, FeedsFile, environ=environ)
    if current is None:
        raise ConfigError(problems)
    keys = {feed_url_key(feed.url) for feed in current.feeds}
    names = {feed.name or urlsplit(feed.url).hostname or "" for feed in current.feeds}
    added: list[OpmlFeed] = []
    skipped: list[OpmlFeed | Feed] = []
    for feed in new_feeds:
        key = feed_url_key(feed.url)
        if key in keys:
            skipped.append(feed)
            continue
        keys.add(key)
        name, number = feed.name, 1
        while name in names:
            number += 1
            name = f"{feed.name} {number}"
        names.add(name)
        added.append(OpmlFeed(feed.url, name, feed.tags))
    if not added:
        return added, skipped

    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        new_text = _append_feeds(text, added, newline)
    except ConfigError as exc:
        raise ConfigError(
            [ConfigProblem(file, p.line, p.key, p.message) for p in exc.problems]
        ) from exc
    result, problems = validate_text(new_text, file, FeedsFile, environ=environ)
    merged = {feed_url_key(feed.url) for feed in result.feeds} if result else set()
    if result is None or not all(feed_url_key(f.url) in merged for f in added):
        reason = [ConfigProblem(file, None, "", "the merged file would not be valid; not saved")]
        raise ConfigError(problems or reason)

    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(new_text)
        if path.exists():
            shutil.copymode(path, temp)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return added, skipped
