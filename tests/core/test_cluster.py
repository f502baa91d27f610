"""Story clustering: the same-story decision, the candidate index and the written story sets.

The fixture sets in tests/fixtures/stories/ were written for the project: syndicated
variants of one story (tracking parameters, http/https, other titles, reordered
paragraphs, an edited lead, a rewrite, a short feed item, an Indonesian rewrite) and
different stories on the same topic published the same day.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.core.cluster import (
    DEFAULT_SETTINGS,
    ClusterDecision,
    StoryCandidate,
    compare,
    decide,
    same_story,
    split_title,
)
from monitor.core.fingerprint import Fingerprint, fingerprint
from monitor.core.identity import canonical_url
from monitor.core.story_index import StoryIndex

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stories"
START = datetime(2026, 2, 17, 6, 0, tzinfo=UTC)


def load_sets() -> dict[str, list[tuple[str, str, Fingerprint]]]:
    """File name -> [(story name, variant, fingerprint)] in file order."""
    sets = {}
    for path in sorted(FIXTURES.glob("*.yaml")):
        items = []
        for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
            for item in story["items"]:
                fp = fingerprint(
                    item["title"],
                    item["text"],
                    url=canonical_url(item["url"]),  # as the normaliser does
                    language=item["language"],
                )
                items.append((story["name"], item["variant"], fp))
        sets[path.stem] = items
    return sets


SETS = load_sets()
ALL_ITEMS = [item for items in SETS.values() for item in items]


def cluster(
    items: list[tuple[str, str, Fingerprint]], index: StoryIndex | None = None
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], ClusterDecision]]:
    """Run items through candidates -> decide -> add, ten minutes apart, as the pipeline does."""
    index = index or StoryIndex()
    story_of: dict[tuple[str, str], int] = {}
    decisions = {}
    next_story = 1
    for i, (name, variant, fp) in enumerate(items):
        now = START + timedelta(minutes=10 * i)
        decision = decide(fp, index.candidates(fp, now), index)
        story = decision.story_id
        if story is None:
            story, next_story = next_story, next_story + 1
        index.add(story, fp, now)
        story_of[name, variant] = story
        decisions[name, variant] = decision
    return story_of, decisions


def groups(story_of: dict[tuple[str, str], int]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for (name, _), story in story_of.items():
        found.setdefault(name, set()).add(story)
    return found


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_written_set_clusters_as_labelled(name: str) -> None:
    story_of, _ = cluster(SETS[name])
    found = groups(story_of)
    assert all(len(ids) == 1 for ids in found.values()), found  # variants land together
    stories = [next(iter(ids)) for ids in found.values()]
    assert len(set(stories)) == len(stories), found  # different stories stay apart


def test_all_sets_together_in_one_window() -> None:
    story_of, decisions = cluster(ALL_ITEMS)
    found = groups(story_of)
    assert all(len(ids) == 1 for ids in found.values()), found
    assert len({next(iter(ids)) for ids in found.values()}) == len(found)
    signals = {
        variant: decisions["eastgate-bridge", variant].signal
        for _, variant, _ in SETS["maritime"][:8]
    }
    assert signals == {
        "original": "none",
        "tracking parameters and http": "url",
        "wire copy under another title": "copy",
        "reordered paragraphs": "copy",
        "edited lead": "copy",
        "rewrite by another outlet": "content",
        "short feed item": "content",
        "Indonesian rewrite": "names",
    }


def test_every_labelled_pair_is_decided_right() -> None:
    index = StoryIndex()
    for i, (_, _, fp) in enumerate(ALL_ITEMS):  # the window's document frequencies
        index.add(i, fp, START)
    wrong = []
    for i, (name_a, variant_a, a) in enumerate(ALL_ITEMS):
        for name_b, variant_b, b in ALL_ITEMS[i + 1 :]:
            if a.language != b.language and name_a != name_b:
                continue
            pair = compare(a, b, index)
            cross_language = a.language != b.language
            if pair.same_story != (name_a == name_b) and not cross_language:
                wrong.append((name_a, variant_a, name_b, variant_b, pair))
    assert wrong == []


def test_decision_explains_a_new_story() -> None:
    _, decisions = cluster(ALL_ITEMS)
    first = decisions["eastgate-bridge", "original"]
    assert first == ClusterDecision(None, "none", 0.0)
    near_miss = decisions["kestrel-draw", "original"]  # same league, another match
    assert near_miss.story_id is None
    assert 0.0 < near_miss.score < DEFAULT_SETTINGS.content_sure


def test_decide_prefers_the_strongest_signal() -> None:
    text = "The Eastgate bridge in Valmora was shut on Tuesday after the Marit Hollen hit a pylon."
    item = fingerprint("Bridge shut", text, url="https://a.example/1", language="en")
    same_url = replace(item, title="something else entirely", terms=(), counts=b"")
    copy = fingerprint("Other title", text, url="https://b.example/2", language="en")
    candidates = [
        StoryCandidate(7, copy, START),
        StoryCandidate(3, same_url, START),
    ]
    decision = decide(item, candidates)
    assert decision == ClusterDecision(3, "url", 1.0)
    assert decide(item, candidates[:1]) == ClusterDecision(7, "copy", 1.0)
    assert decide(item, []) == ClusterDecision(None, "none", 0.0)


def test_same_story_for_two_plain_texts() -> None:
    original = "\n".join(
        ["Valmora harbour bridge closed after cargo ship strikes pylon", *_paragraphs()]
    )
    rewrite = (
        "Ship collision shuts Valmora's busiest bridge\n"
        "Valmora's Eastgate crossing, used by some 42,000 vehicles daily, will remain shut "
        "until at least Thursday after the timber freighter Marit Hollen rammed a support. "
        "Harbour master Ilse Brandt said nobody was hurt."
    )
    pair = same_story(original, rewrite, a_language="en", b_language="en")
    assert pair.same_story and pair.signal == "content" and pair.score >= 0.18
    other = "Ferry runs aground off Castelmar\nA ferry ran aground on a sandbank near Castelmar."
    assert not same_story(original, other).same_story
    assert same_story(original, original).signal == "copy"


def test_split_title() -> None:
    assert split_title("Title\n\nBody text\nmore") == ("Title", "Body text\nmore")
    assert split_title("Only one line") == ("", "Only one line")
    assert split_title("x" * 301 + "\nbody") == ("", "x" * 301 + "\nbody")


def test_titles_alone_never_make_a_story() -> None:
    monday, tuesday = (fp for _, _, fp in SETS["recurring"])
    assert monday.title == tuesday.title
    assert not compare(monday, tuesday).same_story


def test_index_counts_documents_and_expires_them() -> None:
    index = StoryIndex()
    a = fingerprint("Bridge closed", "Eastgate bridge closed in Valmora", language="en")
    b = fingerprint("Ferry aground", "Ferry aground near Castelmar", language="en")
    index.add(1, a, START)
    index.add(2, b, START + timedelta(hours=1))
    assert index.documents == 2 and len(index) == 2 and index.stories == 2
    assert index.counts(["bridge", "ferry", "nowhere"]) == [1, 1, 0]
    assert index.expire(START + timedelta(minutes=30)) == 1
    assert index.counts(["bridge", "ferry"]) == [0, 1]
    assert index.candidates(a, START + timedelta(hours=2)) == []
    assert index.expire(START + timedelta(hours=5)) == 1
    assert index.documents == 0
    assert index._postings == {} and not index._df  # nothing left behind


def test_candidates_respect_the_window_and_rank_by_shared_evidence() -> None:
    index = StoryIndex()
    texts = [
        "The Eastgate bridge in Valmora was closed after the Marit Hollen struck a pylon.",
        "Valmora council approved a new budget for schools in the Eastgate district.",
        "A ferry ran aground near Castelmar with 212 passengers on board.",
    ]
    for story, text in enumerate(texts, start=1):
        index.add(story, fingerprint("", text, language="en"), START)
    query = fingerprint("", "Marit Hollen hits Eastgate bridge pylon in Valmora", language="en")
    found = index.candidates(query, START + timedelta(hours=1))
    assert [c.story_id for c in found][:2] == [1, 2]
    assert found[0].evidence > found[1].evidence
    assert 3 not in {c.story_id for c in found}
    later = START + DEFAULT_SETTINGS.window + timedelta(minutes=1)
    assert index.candidates(query, later) == []
    assert index.candidates(query, later, window=timedelta(days=30))


def test_candidates_are_bounded_whatever_the_window_holds() -> None:
    settings = replace(DEFAULT_SETTINGS, per_key=4, max_candidates=3)
    index = StoryIndex(settings)
    for story in range(200):
        text = f"Valmora harbour report number {story} about bridge traffic and ships"
        index.add(story, fingerprint("", text, language="en"), START)
    query = fingerprint("", "Valmora harbour bridge traffic and ships", language="en")
    found = index.candidates(query, START)
    assert 1 <= len(found) <= 3
    # each key keeps only its most recent items: the work per lookup is bounded
    assert max(len(p) for p in index._postings.values() if isinstance(p, list)) == 4


def _paragraphs() -> list[str]:
    item: dict[str, Any] = yaml.safe_load((FIXTURES / "maritime.yaml").read_text())
    return str(item["stories"][0]["items"][0]["text"]).split("\n\n")
