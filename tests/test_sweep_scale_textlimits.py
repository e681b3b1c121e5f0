"""Issue 16: the sweep measures every message it renders, so core.textlimits measures and
repairs HTML a run of plain text at a time (_measure). It must say exactly what the
token-per-character reading (_tokens) says, for any input."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from core.textlimits import (
    _measure,
    _split,
    _tokens,
    clip_html,
    split_html,
    telegram_len,
    utf16_len,
)

# Text made of what matters to the parser: tags (known, unknown, spoilers, end tags without
# a start), escapes (good, bad, cut), astral and combining characters, lone surrogates.
PIECES = st.sampled_from([
    "<b>", "</b>", "<i>", "</i>", "<a href=\"x\">", "</a>", "<span class=\"tg-spoiler\">",
    "<span>", "</span>", "<pre>", "</pre>", "<foo>", "</foo>", "<", ">", "&", "&amp;",
    "&lt;", "&#128512;", "&#x1F600;", "&#0;", "&#xD800;", "&quot;", "&am", "😀", "e\u0301",
    "\ud800", "\n", " ", "Báo cáo", "a", "Ư",
])
HTML = st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=40).map("".join)


@given(HTML)
@example("<b>Báo cáo</b> &amp; <i>x")
@example("</b>&#128512;<foo>\ud800")
def test_measure_is_the_tokens_reading(html: str) -> None:
    tokens = _tokens(html)
    assert _measure(html) == ("".join(t.raw for t in tokens), sum(t.units for t in tokens))
    assert telegram_len(html) == sum(t.units for t in tokens)


@given(st.text())
def test_utf16_len_counts_astral_characters_twice(text: str) -> None:
    assert utf16_len(text) == len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@given(HTML, st.integers(min_value=2, max_value=60))
def test_clip_fits_and_is_the_repaired_text_when_it_fits(html: str, limit: int) -> None:
    clipped = clip_html(html, limit)
    assert telegram_len(clipped) <= limit
    repaired = "".join(t.raw for t in _tokens(html))
    if sum(t.units for t in _tokens(html)) <= limit:
        assert clipped == repaired


@given(HTML, st.integers(min_value=2, max_value=200))
@example("<b> </b>&#32;", 100)
@example("<b>x", 100)
def test_split_is_the_tokens_split_when_the_text_fits(html: str, limit: int) -> None:
    """split_html reads a message that fits a run at a time (issue 16, the answer path):
    the same pieces as the token-per-character split, fitting or not."""
    assert split_html(html, limit) == _split(html, limit, by_lines=True)
