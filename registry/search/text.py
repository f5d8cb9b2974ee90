"""Word splitting shared by the search adapters, so both index and query the same tokens."""

from __future__ import annotations

import re
import unicodedata

MAX_QUERY_WORDS = 16
MAX_WORD_LEN = 64
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lowercased [a-z0-9] runs, cut at MAX_WORD_LEN; accents folded so 'Émission' -> 'emission'.

    Nothing else survives, which is what makes query words safe inside tsquery syntax; the cut
    keeps absurd words out of the term vocabulary and away from tsquery's word-length limit."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return [w[:MAX_WORD_LEN] for w in _WORD.findall(folded.lower())]


def query_words(text: str | None) -> list[str]:
    """The words of a user query, bounded in number so a query stays cheap.

    A query with no such words (only punctuation, emoji, other scripts) counts as empty."""
    return words(text or "")[:MAX_QUERY_WORDS]
