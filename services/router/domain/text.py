"""Indonesian complaint text as comparable words: normalised spelling, then stems.

Citizens write "jln rusak gk diperbaiki", "jalanan berlubang", "kada dibaiki": the router
compares stems of standard words, and the table's own terms go through the same steps, so
a term written once matches its inflections ("rusak", "kerusakan", "dirusak").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]

_REDUPLICATED = re.compile(r"\b([a-z]{2,})2\b")  # "anak2" is "anak-anak"
_WORD = re.compile(r"[a-z]+|[0-9]+")
_SHORTEST_STEMMABLE = 4  # abbreviations ("sma", "pju", "ktp") are kept as they are
_STEM_CACHE_LIMIT = 200_000  # words seen; beyond it (typos, names) stems are not remembered


class TextNormalizer:
    """Turns text into normalised words and their stems; one instance per routing table."""

    def __init__(self, replacements: Mapping[str, str]) -> None:
        self._replacements = {
            informal.lower(): tuple(_WORD.findall(standard.lower()))
            for informal, standard in replacements.items()
        }
        self._stemmer = StemmerFactory().create_stemmer()
        self._stems: dict[str, str] = {}

    def words(self, text: str) -> list[str]:
        """Lower-case standard words, without punctuation, informal spellings rewritten."""
        words: list[str] = []
        for word in _WORD.findall(_REDUPLICATED.sub(r"\1 \1", text.lower())):
            words.extend(self._replacements.get(word, (word,)))
        return words

    def stems(self, words: Sequence[str]) -> list[str]:
        return [self._stem(word) for word in words]

    def _stem(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            if len(word) < _SHORTEST_STEMMABLE or word.isdigit():
                stem = word
            else:
                stem = self._stemmer.stem(word) or word
            if len(self._stems) < _STEM_CACHE_LIMIT:
                self._stems[word] = stem
        return stem
