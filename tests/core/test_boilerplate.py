"""The boilerplate filter: what each rule kind removes, what it must keep, and its data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.boilerplate import (
    ANY_LANGUAGE,
    MATCH_KINDS,
    default_rules,
    parse_rules,
    remove_boilerplate,
    strip_boilerplate,
)

DATA_FILE = Path(__file__).parents[2] / "monitor" / "core" / "boilerplate.yaml"

# An Indonesian rewrite in the style the filter exists for: related-story lines, a
# WhatsApp promo glued to the last paragraph, a WordPress comment form, "Back To Top".
INDONESIAN = "\n\n".join(
    [
        "Gunung Lewotobi Kembali Erupsi, Warga Diminta Menjauh",
        "FLORES TIMUR, contoh.test – Gunung Lewotobi Laki-laki kembali erupsi pada Sabtu pagi"
        " dengan tinggi kolom abu sekitar dua ribu meter di atas puncak.",
        "Petugas pos pengamatan mencatat letusan berlangsung selama empat menit dan abu"
        " vulkanik condong ke arah barat daya.",
        "Baca Juga: Bandara Maumere Ditutup Sementara Akibat Abu Vulkanik",
        "Pusat Vulkanologi menetapkan status Siaga dan meminta warga tidak beraktivitas dalam"
        " radius lima kilometer dari kawah.",
        "BACA JUGA : Ribuan Pengungsi Butuh Masker dan Air Bersih",
        "Pemerintah kabupaten menyiapkan tiga lokasi pengungsian tambahan di sekolah dan gedung"
        " gereja. Dengarkan berita terkini dan berita pilihan kami langsung ke ponsel Anda."
        " Pilih saluran berita favorit Anda untuk mengakses saluran WhatsApp contoh.test:"
        " https://www.whatsapp.com/channel/0000Example. Pastikan Anda telah menginstal WhatsApp.",
        "Tinggalkan Balasan",
        "Alamat email Anda tidak akan dipublikasikan. Ruas yang wajib ditandai *",
        "Back To Top",
    ]
)

ARTICLE_SENTENCES = [
    "Gunung Lewotobi Laki-laki kembali erupsi pada Sabtu pagi",
    "Petugas pos pengamatan mencatat letusan berlangsung selama empat menit",
    "Pusat Vulkanologi menetapkan status Siaga",
    "Pemerintah kabupaten menyiapkan tiga lokasi pengungsian tambahan di sekolah dan gedung",
]


def test_indonesian_model_case_keeps_the_article_and_drops_every_boilerplate_line() -> None:
    cleaned = strip_boilerplate(
        INDONESIAN, title="Gunung Lewotobi Kembali Erupsi, Warga Diminta Menjauh"
    )
    for sentence in ARTICLE_SENTENCES:
        assert sentence in cleaned.text
    gone = ["Baca Juga", "BACA JUGA", "Dengarkan", "WhatsApp", "Tinggalkan", "Alamat email"]
    for text in [*gone, "Back To Top", "Warga Diminta Menjauh"]:
        assert text not in cleaned.text
    assert cleaned.text.endswith("di sekolah dan gedung gereja.")
    assert [r.rule for r in cleaned.removed] == [
        "title",
        "id/related:baca juga",
        "id/related:baca juga",
        "id/promo:dengarkan berita terkini",
        "id/comments:tinggalkan balasan",
        "id/comments:alamat email anda tidak akan dipublikasikan",
        "en/sections:back to top",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "Baca juga: Harga beras naik lagi",
        "BACA JUGA : Harga beras naik lagi",
        "- Baca Juga » Harga beras naik lagi",
        "Baca juga Harga beras naik lagi",
        "[Baca Juga: Harga beras naik lagi]",
        "Read more: Rents rise again",
        "READ MORE: Rents rise again",
        "Related: Rents rise again",
        "[Related: Rents rise again]",
        "Don’t miss",  # curly apostrophe
        "Читайте также: Мост открыли",
        "Читайте ещё: Мост открыли",  # "ё" matches "е"
        "Leave a Reply",
        "Back to top",
        "Share this article",
        "Sign up for our weekly newsletter",
        "© 2024 Contoh Media",
        "Copyright © 2024 Contoh Media. All rights reserved.",
        "| Penulis | : Dewi Lestari |",
        "Editor: Rina Marlina",
        "Advertisement",
        "- ",
        "Δ",
    ],
)
def test_a_boilerplate_line_goes(line: str) -> None:
    text = f"An article paragraph that stays in place.\n{line}\nAnother paragraph that stays."
    assert remove_boilerplate(text) == (
        "An article paragraph that stays in place.\nAnother paragraph that stays."
    )


@pytest.mark.parametrize(
    "line",
    [
        # Article sentences that begin like boilerplate but are longer than max_words.
        "Baca juga laporan lengkap Badan Pemeriksa Keuangan yang menyebut kerugian negara "
        "mencapai triliunan rupiah akibat proyek jalan tol yang mangkrak selama bertahun-tahun "
        "di tiga provinsi, kata anggota komisi dalam rapat dengar pendapat pada hari Senin "
        "yang berlangsung hingga larut malam di gedung parlemen.",
        "Updated figures released by the statistics office on Monday showed that inflation "
        "slowed for the third month in a row.",
        # Article sentences that share words with phrases but do not start with them.
        "The minister said she would read more reports before deciding.",
        "Related parties must disclose their holdings, the regulator said.",
        "Share prices fell by 3 percent in early trading in Jakarta.",
        "Email records obtained by the court show the order was given in March.",
        "Published in 1950, the novel was banned for two decades.",
        "Subscribers to the service complained about the outage for hours.",
        "Komentar presiden itu memicu perdebatan di parlemen selama dua pekan.",
        "Редактор газеты заявил, что материал будет опубликован в понедельник.",
        "Подробнее о реформе министр рассказал на пресс-конференции в среду.",
        "Top officials met in Geneva on Tuesday.",
        "The copyright dispute between the two publishers reached the supreme court.",
    ],
)
def test_article_sentences_are_kept(line: str) -> None:
    assert remove_boilerplate(line) == line


def test_tail_cuts_a_promo_glued_to_the_last_paragraph_only_from_a_sentence_start() -> None:
    text = (
        "Polisi masih menyelidiki penyebab kebakaran."
        " Ikuti kami di Google News untuk kabar terbaru."
    )
    cleaned = strip_boilerplate(text)
    assert cleaned.text == "Polisi masih menyelidiki penyebab kebakaran."
    assert cleaned.removed[0].text == "Ikuti kami di Google News untuk kabar terbaru."
    # The same words inside a sentence are not a promo.
    inside = "Warga berkata ikuti kami di jalan ini agar tidak tersesat, kata petugas."
    assert remove_boilerplate(inside) == inside


def test_contains_removes_only_the_sentence_with_the_channel_link() -> None:
    text = (
        "The ministry confirmed the figures on Friday. "
        "Join the conversation at https://t.me/example_channel now! "
        "Officials will meet again next week."
    )
    assert remove_boilerplate(text, languages=["en"]) == (
        "The ministry confirmed the figures on Friday. Officials will meet again next week."
    )


def test_language_selection_applies_the_chosen_groups_english_and_the_common_ones() -> None:
    text = "A paragraph of the article.\nBaca juga: Berita lain\nRead more: Other story\n© 2024 X"
    assert remove_boilerplate(text, languages=["en-US"]) == (
        "A paragraph of the article.\nBaca juga: Berita lain"
    )
    # English UI phrases ("Read more", "Back To Top") appear on Indonesian sites too
    assert remove_boilerplate(text, languages=["id"]) == "A paragraph of the article."
    assert remove_boilerplate("Isi berita.\nBack To Top", languages=["id"]) == "Isi berita."
    ru = "Текст статьи.\nЧитайте также: другое\nBaca juga: lain"
    assert remove_boilerplate(ru, languages=["ru"]) == "Текст статьи.\nBaca juga: lain"
    assert remove_boilerplate(text) == "A paragraph of the article."  # unknown: all


def test_title_is_dropped_only_at_the_top() -> None:
    title = "Harbour bridge closed for repairs"
    text = f"{title}\nThe bridge will stay closed for a month.\n{title}"
    cleaned = strip_boilerplate(text, title=f"{title} | The Harbour Times")
    assert cleaned.text == f"The bridge will stay closed for a month.\n{title}"
    assert [r.rule for r in cleaned.removed] == ["title"]


def test_empty_and_whitespace_text() -> None:
    assert strip_boilerplate("").text == ""
    assert strip_boilerplate("  \n\n \t").text == ""


_PIECES = st.sampled_from(
    [
        "Baca juga: Harga cabai naik",
        "Read more: Another story",
        "Back To Top",
        "Tinggalkan Balasan",
        "Petani di Brebes memanen bawang lebih awal tahun ini.",
        "The council approved the budget on Tuesday.",
        "Follow the money, the auditor said.",
        "Dengarkan berita terkini di ponsel Anda.",
        "https://t.me/example",
        "Mereka kembali ke rumah.",
        "-",
        "",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=4).map(" ".join), max_size=8).map("\n".join))
def test_filter_is_idempotent_and_only_removes(text: str) -> None:
    once = remove_boilerplate(text)
    assert remove_boilerplate(once) == once
    original_words = text.split()
    for word in once.split():
        assert word in original_words


def test_data_file_is_documented_and_consistent() -> None:
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    seen: set[tuple[str, str, str]] = set()
    for group in data["groups"]:
        assert group["why"].strip(), group["id"]
        assert group["match"] in MATCH_KINDS
        assert group["language"] == ANY_LANGUAGE or len(group["language"]) == 2
        for phrase in group["phrases"]:
            key = (group["language"], group["match"], phrase.lower())
            assert key not in seen, f"duplicate phrase {key}"
            seen.add(key)
    rules = default_rules()
    assert {"id", "en", "ru"} <= rules.languages
    assert len(rules.rules) == len(seen)


def group(**changes: object) -> dict[str, object]:
    """One valid rule group with some keys changed (None deletes a key)."""
    base: dict[str, object] = {
        "id": "x",
        "language": "en",
        "match": "line",
        "max_words": 3,
        "why": "w",
        "phrases": ["a"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("group_data", "message"),
    [
        (group(match="regex"), "match must be"),
        (group(max_words=0), "max_words"),
        (group(phrases=[]), "phrases"),
        (group(pattern=".*"), "unknown keys"),
        (group(why=None), "missing keys"),
    ],
)
def test_bad_rule_data_is_refused(group_data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules({"groups": [group_data]})


def test_phrases_are_literals_not_patterns() -> None:
    rules = parse_rules({"groups": [group(phrases=["a.*b", "(x)"])]})
    text = "aXXXb\na.*b\n(x)\nx"
    assert strip_boilerplate(text, rules=rules).text == "aXXXb\nx"
