"""Telegram's HTML parse mode as the Bot API server applies it (after tdlib's ``parse_html``).

``parse_html`` turns ``parse_mode=HTML`` text into the visible text plus MessageEntity
dicts, or raises ``EntityParseError`` carrying the server's wording and UTF-8 byte
offsets ("Unsupported start tag "p" at byte offset 3", "Can't find end tag
corresponding to start tag "b"", ...). ``visible_text`` then trims the result the way the
server does before it checks emptiness and the 4096 limit, counted in UTF-16 code units
(``utf16_len``).

Strict mode (the default) goes one step further than Telegram: a bare ``&`` or an entity
Telegram does not know (``&nbsp;``), which the real server would show literally, is
refused, so a sender that forgot to escape is caught. ``strict=False`` is exactly tdlib.

Test support only: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Entity = dict[str, Any]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
_SPACE = frozenset(b" \t\r\n\v\0")  # tdlib's is_space, NUL included
_TRIM = " \t\r\n"
_LINK_SCHEMES = ("http://", "https://", "tg://", "ton://")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is the server's wording."""


@dataclass(frozen=True, slots=True)
class ParsedText:
    """Visible text and its entities (offsets and lengths in UTF-16 code units)."""

    text: str
    entities: tuple[Entity, ...] = ()


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_units(first_byte: int) -> int:
    """UTF-16 units of the character starting with this UTF-8 byte (0 for a continuation)."""
    if first_byte & 0xC0 == 0x80:
        return 0
    return 2 if first_byte >= 0xF0 else 1


class _Reader:
    """The markup as bytes, read past its end as NUL like the C string tdlib walks."""

    def __init__(self, markup: str) -> None:
        self.data = markup.encode("utf-8", "surrogatepass")

    def at(self, index: int) -> int:
        return self.data[index] if index < len(self.data) else 0

    def lower(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace").lower()


def _decode_entity(reader: _Reader, pos: int) -> tuple[int, int, bool]:
    """tdlib's decode_html_entity at ``pos`` (an ``&``): (code point or 0, end, had ';')."""
    end = pos + 1
    code = 0
    if reader.at(end) == ord("#"):
        end += 1
        if reader.at(end) == ord("x"):
            end += 1
            while reader.at(end) and chr(reader.at(end)) in "0123456789abcdefABCDEF":
                code = code * 16 + int(chr(reader.at(end)), 16)
                end += 1
                if code >= 0x10FFFF:
                    return 0, pos, False
        else:
            while 0x30 <= reader.at(end) <= 0x39:
                code = code * 10 + reader.at(end) - 0x30
                end += 1
                if code >= 0x10FFFF:
                    return 0, pos, False
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos, False
    else:
        while chr(reader.at(end)).isascii() and chr(reader.at(end)).isalpha():
            end += 1
        code = _NAMED.get(reader.data[pos + 1 : end], 0)
        if code == 0:
            return 0, pos, False
    if reader.at(end) == ord(";"):
        return code, end + 1, True
    return code, end, False


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16 offset in the visible text
    result_pos: int  # byte position in the visible text


def parse_html(markup: str, *, strict: bool = True) -> ParsedText:
    """Parse Telegram HTML into visible text and entities, or raise ``EntityParseError``."""
    reader = _Reader(markup)
    size = len(reader.data)
    result = bytearray()
    entities: list[Entity] = []
    nested: list[_Open] = []
    offset = 0
    i = 0
    while i < size:
        c = reader.at(i)
        if c == ord("&"):
            code, end, had_semicolon = _decode_entity(reader, i)
            if code and (had_semicolon or not strict):
                if 0xD800 <= code <= 0xDFFF:
                    raise EntityParseError("Text contains an unmatched surrogate code unit")
                offset += 2 if code > 0xFFFF else 1
                result += chr(code).encode("utf-8")
                i = end
                continue
            if strict:
                word = _entity_word(reader, i)
                raise EntityParseError(
                    f'Unsupported HTML entity "{word}" at byte offset {i} '
                    "(emulator strict mode: Telegram would show it literally)"
                )
        if c != ord("<"):
            offset += _utf16_units(c)
            result.append(c)
            i += 1
            continue
        begin = i
        i += 1
        if reader.at(i) != ord("/"):
            opened, i = _start_tag(reader, begin, i, offset, len(result))
            nested.append(opened)
            i += 1
            continue
        if not nested:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while reader.at(i) not in _SPACE and reader.at(i) != ord(">"):
            i += 1
        end_tag = reader.lower(begin + 2, i)
        while reader.at(i) in _SPACE and reader.at(i) != 0:
            i += 1
        if reader.at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        opened = nested.pop()
        if end_tag and end_tag != opened.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", '
                f'found "</{end_tag}>"'
            )
        if offset > opened.offset:
            _add_entity(entities, opened, offset - opened.offset, bytes(result))
        i += 1
    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].tag}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    text = result.decode("utf-8", "surrogatepass")
    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"]))
    return ParsedText(text, tuple(ordered))


def _start_tag(reader: _Reader, begin: int, i: int, offset: int, pos: int) -> tuple[_Open, int]:
    """Read a start tag from its name on; return it and the index of its closing ``>``."""
    while reader.at(i) not in _SPACE and reader.at(i) != ord(">"):
        i += 1
    if reader.at(i) == 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
    tag = reader.lower(begin + 1, i)
    if tag not in SUPPORTED_TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
    argument = ""
    while reader.at(i) != ord(">"):
        while reader.at(i) != 0 and reader.at(i) in _SPACE:
            i += 1
        if reader.at(i) == ord(">"):
            break
        name_start = i
        while reader.at(i) not in _SPACE and reader.at(i) not in b"=>/\"'":
            i += 1
        name = reader.lower(name_start, i)
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
            )
        while reader.at(i) != 0 and reader.at(i) in _SPACE:
            i += 1
        if reader.at(i) != ord("="):
            if reader.at(i) == 0:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if tag == "blockquote" and name == "expandable":
                argument = "1"
            continue
        i += 1
        while reader.at(i) != 0 and reader.at(i) in _SPACE:
            i += 1
        if reader.at(i) == 0:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value, i = _attribute_value(reader, i)
        if reader.at(i) == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        argument = _argument(tag, name, value, argument)
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    return _Open(tag, argument, offset, pos), i


def _is_token_char(byte: int) -> bool:
    return byte != 0 and chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in ".-")


def _entity_word(reader: _Reader, pos: int) -> str:
    """The text of a refused reference, for the error message: ``&`` plus what follows."""
    end = pos + 1
    while end - pos < 12 and (_is_token_char(reader.at(end)) or reader.at(end) == ord("#")):
        end += 1
    if reader.at(end) == ord(";"):
        end += 1
    return reader.data[pos:end].decode("utf-8", "replace")


def _attribute_value(reader: _Reader, i: int) -> tuple[str, int]:
    """A lower-cased name token, or a quoted string with its references decoded."""
    quote = reader.at(i)
    if quote not in (ord("'"), ord('"')):
        start = i
        while _is_token_char(reader.at(i)):
            i += 1
        if reader.at(i) not in _SPACE and reader.at(i) != ord(">"):
            raise EntityParseError(f"Unexpected end of name token at byte offset {start}")
        return reader.lower(start, i), i
    i += 1
    value = bytearray()
    while reader.at(i) != quote and reader.at(i) != 0:
        if reader.at(i) == ord("&"):
            code, end, _ = _decode_entity(reader, i)
            if code:
                value += chr(code).encode("utf-8", "surrogatepass")
                i = end
                continue
        value.append(reader.at(i))
        i += 1
    if reader.at(i) == quote:
        i += 1
    return value.decode("utf-8", "replace"), i


def _argument(tag: str, name: str, value: str, current: str) -> str:
    if (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "blockquote" and name == "expandable":
        return "1"
    return current


def _add_entity(entities: list[Entity], opened: _Open, length: int, result: bytes) -> None:
    entity: Entity = {"type": "", "offset": opened.offset, "length": length}
    last = entities[-1] if entities else None
    same_span = last is not None and (last["offset"], last["length"]) == (opened.offset, length)
    if opened.tag in _SIMPLE_TYPES:
        entity["type"] = _SIMPLE_TYPES[opened.tag]
    elif opened.tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entity.update(type="custom_emoji", custom_emoji_id=opened.argument)
    elif opened.tag == "a":
        url = opened.argument or result[opened.result_pos :].decode("utf-8", "replace")
        link = _checked_link(url)
        if link is None:
            return  # Telegram drops a link it cannot use, silently
        entity.update(type="text_link", url=link)
    elif opened.tag == "pre":
        if last is not None and same_span and last["type"] == "code" and "language" in last:
            last["type"] = "pre"
            return
        entity["type"] = "pre"
    elif opened.tag == "code":
        if last is not None and same_span and last["type"] == "pre" and opened.argument:
            last["language"] = opened.argument
            return
        entity["type"] = "code"
        if opened.argument:
            entity["language"] = opened.argument
    else:  # blockquote
        entity["type"] = "expandable_blockquote" if opened.argument else "blockquote"
    entities.append(entity)


def _checked_link(url: str) -> str | None:
    """The link Telegram keeps for ``<a href>``: known schemes, or a bare host made http."""
    url = url.strip()
    if url.lower().startswith(_LINK_SCHEMES):
        return url
    if "://" in url or ":" in url.split("/", 1)[0] or "." not in url.split("/", 1)[0]:
        return None
    return "http://" + url


def visible_text(parsed: ParsedText) -> ParsedText:
    """Trim surrounding whitespace as the server does, moving and clipping the entities."""
    text = parsed.text
    stripped = text.strip(_TRIM)
    if stripped == text:
        return parsed
    shift = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
    limit = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in parsed.entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return ParsedText(stripped, tuple(kept))
