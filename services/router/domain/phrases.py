"""Finding known phrases (sequences of words) in a text's words."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.router.domain.text import TextNormalizer

Payload = TypeVar("Payload")


@dataclass
class PhraseIndex(Generic[Payload]):
    """Phrases of one to a few words, each with what it stands for."""

    _entries: dict[tuple[str, ...], list[Payload]] = field(default_factory=dict)
    _prefixes: set[tuple[str, ...]] = field(default_factory=set)
    """Proper beginnings of phrases: a text's words that begin none end the search early."""
    _longest: int = 0

    def add(self, phrase: Sequence[str], payload: Payload) -> None:
        if phrase:
            self._entries.setdefault(tuple(phrase), []).append(payload)
            self._prefixes.update(tuple(phrase[:size]) for size in range(1, len(phrase)))
            self._longest = max(self._longest, len(phrase))

    def find(self, words: Sequence[str]) -> Iterator[tuple[int, tuple[str, ...], Payload]]:
        """Every occurrence: (position of its first word, the phrase, its payload)."""
        entries, prefixes = self._entries, self._prefixes
        count = len(words)
        for start in range(count):
            for end in range(start + 1, min(start + self._longest, count) + 1):
                phrase = tuple(words[start:end])
                for payload in entries.get(phrase, ()):
                    yield start, phrase, payload
                if phrase not in prefixes:
                    break


EXACT_MARK = "="


class TermIndex(Generic[Payload]):
    """Table terms, matched by stem, or word for word when written "=word"."""

    def __init__(self, normalizer: TextNormalizer) -> None:
        self._normalizer = normalizer
        self._by_stem: PhraseIndex[Payload] = PhraseIndex()
        self._by_word: PhraseIndex[Payload] = PhraseIndex()

    def add(self, term: str, payload: Payload) -> None:
        if term.startswith(EXACT_MARK):
            self._by_word.add(self._normalizer.words(term[1:]), payload)
        else:
            self._by_stem.add(self._normalizer.stems(self._normalizer.words(term)), payload)

    def find(
        self, words: Sequence[str], stems: Sequence[str]
    ) -> Iterator[tuple[tuple[str, ...], Payload]]:
        """(the phrase as matched, its payload): two terms with one stem match as one phrase."""
        for _, phrase, payload in self._by_stem.find(stems):
            yield phrase, payload
        for _, phrase, payload in self._by_word.find(words):
            yield (EXACT_MARK, *phrase), payload
