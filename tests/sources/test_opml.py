"""OPML: reading a reader's export, writing ours, and merging into feeds.yaml in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from monitor.config import load_config
from monitor.core.models import Feed
from monitor.errors import ConfigError, ConfigProblem
from monitor.sources.opml import OpmlFeed, merge_into_feeds_yaml, read_opml, write_opml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "config"
EXAMPLE = Path(__file__).resolve().parents[2] / "config"


def test_real_world_shaped_export() -> None:
    problems: list[ConfigProblem] = []
    feeds = read_opml((FIXTURES / "subscriptions.opml").read_bytes(), problems=problems)
    assert feeds == [
        OpmlFeed(
            "https://harian.example.id/rss/nasional",
            "Harian Contoh - Nasional",
            ("Indonesia", "World & Wires"),  # listed in two folders: one feed, both tags
        ),
        OpmlFeed("https://kabar.example.id/feed/", "Kabar Contoh", ("Indonesia",)),
        OpmlFeed(
            "http://energy.example.com/atom.xml?lang=en", "Energy Wire", ("World & Wires", "Energy")
        ),
        OpmlFeed("https://globe.example.org/world.rss", "Globe Wire World", ("World & Wires",)),
        OpmlFeed("http://blog.example.net/feed/", "A personal blog"),  # feed:// scheme
        OpmlFeed("https://notitle.example.org/atom", "notitle.example.org"),  # xmlURL, no text
        OpmlFeed("https://vesti.example.ru/rss", "Вести Пример", ("Russia", "Politics", "ru")),
    ]
    assert [(p.line, p.key) for p in problems] == [(30, "xmlUrl")]
    assert "only http:// and https://" in problems[0].message


def test_round_trip() -> None:
    feeds = [
        OpmlFeed("https://a.example.org/rss", "A & B <news>", ("World", "Energy")),
        OpmlFeed("https://b.example.org/rss", "Бэ", ("World",)),
        OpmlFeed("https://c.example.org/rss", "C", ()),
        OpmlFeed("https://d.example.org/rss", "D", ("Energy",)),
        OpmlFeed("https://e.example.org/rss?x=1&y=2", "E", ("World", "Energy", "Gas")),
    ]
    back = read_opml(write_opml(feeds))
    assert sorted(back, key=lambda f: f.url) == feeds  # grouped by folder, nothing lost


def test_write_from_configured_feeds() -> None:
    config = load_config(EXAMPLE, environ={})
    data = write_opml(config.feeds, title="demo")
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'language="id"' in data
    back = read_opml(data)
    assert [(f.url, f.name, f.tags) for f in back] == [
        (f.url, f.name, f.tags) for f in config.feeds
    ]


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"<opml><body><outline", "not valid XML", 1),
        (b"<rss version='2.0'><channel/></rss>", "not an OPML document: found <rss>", 1),
        (b"<opml version='2.0'>\n<head/>\n</opml>", "OPML without <body>", 1),
        (b"", "not valid XML", 1),
    ],
)
def test_invalid_documents_raise_config_error(data: bytes, message: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        read_opml(data, source="import.opml")
    problem = caught.value.problems[0]
    assert problem.file == "import.opml"
    assert message in problem.message
    assert problem.line == line


class _Canary(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Canary.hits.append(self.path)
        body = b'<!ENTITY leak "LEAKED">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def canary() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Canary.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_no_external_entities_and_no_entity_bomb(canary: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    documents = [
        f'<!DOCTYPE opml SYSTEM "{canary}/opml.dtd"><opml><body>'
        '<outline text="&leak;" xmlUrl="https://a.example.org/"/></body></opml>',
        f'<!DOCTYPE opml [<!ENTITY % p SYSTEM "{canary}/p.dtd"> %p;]><opml><body>'
        '<outline text="x" xmlUrl="https://a.example.org/"/></body></opml>',
        f'<!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]><opml><body>'
        '<outline text="t">&x;<outline text="f" xmlUrl="https://a.example.org/"/></outline>'
        "</body></opml>",
        f'<!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]><opml><body>'
        '<outline text="&x;" xmlUrl="https://a.example.org/"/></body></opml>',
        '<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 20}">' for n in range(6))
        + ']><opml><body><outline text="&g;" xmlUrl="https://a.example.org/"/></body></opml>',
    ]
    for document in documents:
        try:
            feeds = read_opml(document.encode())
        except ConfigError:
            continue  # refusing is fine; expanding is not
        for feed in feeds:
            assert "TOP-SECRET" not in feed.name and "LEAKED" not in feed.name
            assert len(feed.name) < 100 and all(len(t) < 100 for t in feed.tags)
    assert _Canary.hits == []


FEEDS_YAML = """\
# Our feeds. Keep this comment!
defaults:
  interval: 10m   # ten minutes

feeds:
  # Indonesian outlets
  - url: https://harian.example.id/rss/nasional
    name: Harian
    tags: [Indonesia]
  - url: http://127.0.0.1:${DEMO_PORT:-8089}/feeds/globe.xml   # the demo
    name: Globe Wire World
# trailing comment
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_merge_appends_new_feeds_and_keeps_the_text(tmp_path: Path) -> None:
    path = write(tmp_path, FEEDS_YAML)
    new = read_opml((FIXTURES / "subscriptions.opml").read_bytes())
    added, skipped = merge_into_feeds_yaml(path, new, environ={})
    assert [f.url for f in skipped] == ["https://harian.example.id/rss/nasional"]
    assert len(added) == len(new) - 1
    text = path.read_text(encoding="utf-8")
    assert text.startswith(FEEDS_YAML)  # every byte of the original, comments included
    assert [f.name for f in added][2] == "Globe Wire World 2"  # names stay unique
    # the result is a valid feeds.yaml that loads, with the new feeds in it
    (tmp_path / "monitor.yaml").write_text("", encoding="utf-8")
    (tmp_path / "watchlists.yaml").write_text("", encoding="utf-8")
    config = load_config(tmp_path, environ={})
    assert len(config.feeds) == 2 + len(added)
    by_url = {f.url: f for f in config.feeds}
    assert by_url["https://vesti.example.ru/rss"].tags == ("Russia", "Politics", "ru")
    assert by_url["https://vesti.example.ru/rss"].interval_s == 600
    # a second import adds nothing and leaves the file alone
    before = path.stat().st_mtime_ns
    added_again, skipped_again = merge_into_feeds_yaml(path, new, environ={})
    assert added_again == [] and len(skipped_again) == len(new)
    assert path.stat().st_mtime_ns == before


def test_merge_skips_by_url_identity(tmp_path: Path) -> None:
    path = write(tmp_path, FEEDS_YAML)
    new = [
        OpmlFeed("HTTPS://Harian.Example.id:443/rss/nasional?utm_medium=x#frag", "Same"),
        OpmlFeed("http://127.0.0.1:8089/feeds/globe.xml", "Same demo"),  # after ${...}
    ]
    added, skipped = merge_into_feeds_yaml(path, new, environ={})
    assert added == [] and skipped == new
    assert path.read_text(encoding="utf-8") == FEEDS_YAML


def test_merge_when_feeds_is_not_the_last_key(tmp_path: Path) -> None:
    text = (
        "feeds:\n- url: https://a.example.org/\n  name: A\n  # a comment inside\n"
        "\ndefaults:\n  backfill: 2\n"
    )
    path = write(tmp_path, text)
    added, _ = merge_into_feeds_yaml(path, [OpmlFeed("https://b.example.org/", "B", ("x",))])
    assert len(added) == 1
    result = path.read_text(encoding="utf-8")
    assert result.startswith("feeds:\n- url: https://a.example.org/\n  name: A\n- url: ")
    assert result.endswith("  # a comment inside\n\ndefaults:\n  backfill: 2\n")
    assert "defaults" in result


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# nothing yet\n",
        "defaults:\n  backfill: 1",
        "feeds: []  # none yet\n",
        "feeds:\n",
        "feeds: ~\n",
    ],
)
def test_merge_into_empty_files(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    feeds = [OpmlFeed("https://a.example.org/", "A $HOME ${X}", ("t",))]
    added, _ = merge_into_feeds_yaml(path, feeds, environ={})
    assert added == feeds
    result = path.read_text(encoding="utf-8")
    assert result.startswith(text.replace("[]", "").replace("~", "")[:10])
    assert "# none yet" in result or "none yet" not in text
    (tmp_path / "monitor.yaml").write_text("", encoding="utf-8")
    (tmp_path / "watchlists.yaml").write_text("", encoding="utf-8")
    config = load_config(tmp_path, environ={})
    assert config.feeds[-1].name == "A $HOME ${X}"  # "$" written as "$$": not expanded


def test_merge_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    added, _ = merge_into_feeds_yaml(path, [OpmlFeed("https://a.example.org/", "A")])
    assert len(added) == 1
    assert path.read_text(encoding="utf-8").startswith("feeds:\n  - url:")


def test_merge_refuses_a_broken_file_and_leaves_it(tmp_path: Path) -> None:
    broken = "feeds:\n  - url: https://a.example.org/\n    name: A\n    name: B\n"
    path = write(tmp_path, broken)
    with pytest.raises(ConfigError) as caught:
        merge_into_feeds_yaml(path, [OpmlFeed("https://b.example.org/", "B")])
    assert caught.value.problems[0].line == 4
    assert path.read_text(encoding="utf-8") == broken


def test_merge_refuses_a_flow_list(tmp_path: Path) -> None:
    text = "feeds: [{url: 'https://a.example.org/'}]\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="not a block list"):
        merge_into_feeds_yaml(path, [OpmlFeed("https://b.example.org/", "B")])
    assert path.read_text(encoding="utf-8") == text


def test_merge_keeps_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"feeds:\r\n  - url: https://a.example.org/\r\n")
    merge_into_feeds_yaml(path, [OpmlFeed("https://b.example.org/", "B")])
    data = path.read_bytes()
    assert data.startswith(b"feeds:\r\n  - url: https://a.example.org/\r\n  - url: ")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_merge_accepts_configured_feeds_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: []\n")
    feed = Feed(url="https://x.example.org/", name="X", tags=("a",))
    added, _ = merge_into_feeds_yaml(path, [feed])
    assert added == [OpmlFeed("https://x.example.org/", "X", ("a",))]
