"""The learned topic model: which routing-table topic a citizen's words are about, and how sure.

Word (1-2) and character (2-5, within words) n-grams, TF-IDF weighted, scored by a linear model
trained by `lapor-hub route train` (scikit-learn). The service reads the trained weights from a
numpy `.npz` file with numpy alone: no pickle (unsafe to load, slow to unpickle), nothing fetched
at run time. Features are computed here, for training and deciding alike, so both see the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
ACTIVE_POINTER = MODELS_DIR / "ACTIVE"
NO_TOPIC = "(bukan aduan)"
"""The model's class for messages that are no complaint (thanks, questions) or no topic."""

_WORD = "w:"
_CHAR = "c:"
_CHAR_SIZES = (2, 3, 4, 5)
_WORD_CACHE_LIMIT = 200_000
_FORMAT = 1

FloatArray = npt.NDArray[np.float32]


class ModelFileError(ValueError):
    """The model file cannot be read or does not fit this router."""


def word_grams(words: Sequence[str]) -> list[str]:
    """Word unigrams and bigrams."""
    grams = [_WORD + word for word in words]
    grams += [f"{_WORD}{a} {b}" for a, b in pairwise(words)]
    return grams


def char_grams(word: str) -> list[str]:
    """Character 2- to 5-grams of one word padded with spaces (scikit-learn's char_wb)."""
    padded = f" {word} "
    return [
        _CHAR + padded[start : start + size]
        for size in _CHAR_SIZES
        for start in range(len(padded) - size + 1)
    ]


def features(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(word grams, character grams) of a text's normalised words; training uses this too."""
    return word_grams(words), [gram for word in words for gram in char_grams(word)]


@dataclass(frozen=True)
class TopicGuess:
    probabilities: dict[str, float]
    """Calibrated probability of each topic the model gives more than a trace."""
    terms: dict[str, tuple[str, ...]]
    """The n-grams that pushed each of those topics most."""


class TopicModel:
    """A trained model, read from its `.npz`; `guess` is pure and takes a fraction of a ms."""

    def __init__(
        self,
        *,
        version: str,
        topics: Sequence[str],
        vocabulary: Sequence[str],
        idf: FloatArray,
        weights: FloatArray,
        bias: FloatArray,
        settings: dict[str, float],
    ) -> None:
        self.version = version
        self.topics = tuple(topics)
        self.vocabulary = tuple(vocabulary)
        self._index = {gram: n for n, gram in enumerate(self.vocabulary)}
        self._idf = idf.astype(np.float32)
        self._weights = weights.astype(np.float32)
        self._bias = bias.astype(np.float32)
        self.settings = dict(settings)
        self._char_ids: dict[str, list[int]] = {}
        self._first_word_gram = next(
            (n for n, gram in enumerate(self.vocabulary) if gram.startswith(_WORD)),
            len(self.vocabulary),
        )

    @property
    def temperature(self) -> float:
        return self.settings.get("temperature", 1.0)

    def with_settings(self, **settings: float) -> TopicModel:
        """The same weights with other calibration or thresholds (chosen on dev by training)."""
        return TopicModel(
            version=self.version,
            topics=self.topics,
            vocabulary=self.vocabulary,
            idf=self._idf,
            weights=self._weights,
            bias=self._bias,
            settings={**self.settings, **settings},
        )

    def vectorise(self, words: Sequence[str]) -> tuple[list[int], FloatArray]:
        """Feature ids and TF-IDF values (sublinear tf; word and char blocks each unit length).

        The vocabulary is sorted, so character grams ("c:...") come before word grams."""
        index = self._index
        grams = [i for i in (index.get(g) for g in word_grams(words)) if i is not None]
        for word in words:
            grams += self._char_ids_of(word)
        if not grams:
            return [], np.zeros(0, np.float32)
        features, counts = np.unique(np.asarray(grams), return_counts=True)
        values = (1.0 + np.log(counts)) * self._idf[features]
        split = int(np.searchsorted(features, self._first_word_gram))
        for part in (slice(0, split), slice(split, None)):
            norm = np.sqrt(values[part] @ values[part])
            if norm:
                values[part] /= norm
        return features.tolist(), values.astype(np.float32)

    def guess(self, words: Sequence[str], top: int = 4, terms: int = 4) -> TopicGuess:
        """The `top` most probable topics, and the n-grams that pushed the first most."""
        ids, values = self.vectorise(words)
        rows = self._weights[ids] if ids else np.zeros((0, len(self.topics)), np.float32)
        scores = values @ rows + self._bias
        scores = scores / self.temperature
        scores -= scores.max()
        exp = np.exp(scores)
        probabilities = exp / exp.sum()
        ranked = np.argsort(-probabilities)[:top]
        guess_terms = {}
        for topic in ranked[: 1 if terms else 0]:
            contributions = values * rows[:, topic] if ids else values
            strongest = np.argsort(-contributions)[: terms * 3]
            shown: list[str] = []
            for position in strongest:
                if contributions[position] <= 0 or len(shown) == terms:
                    break
                gram = _readable(self.vocabulary[ids[position]])
                if gram and not any(gram in seen or seen in gram for seen in shown):
                    shown.append(gram)
            guess_terms[self.topics[topic]] = tuple(shown)
        return TopicGuess({self.topics[t]: float(probabilities[t]) for t in ranked}, guess_terms)

    def _char_ids_of(self, word: str) -> list[int]:
        ids = self._char_ids.get(word)
        if ids is None:
            index = self._index
            ids = [i for i in (index.get(g) for g in char_grams(word)) if i is not None]
            if len(self._char_ids) < _WORD_CACHE_LIMIT:
                self._char_ids[word] = ids
        return ids

    def save(self, path: Path) -> None:
        meta = {
            "format": _FORMAT,
            "version": self.version,
            "topics": list(self.topics),
            "settings": self.settings,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            np.savez_compressed(
                file,
                meta=np.asarray(json.dumps(meta, ensure_ascii=False, sort_keys=True)),
                vocabulary=np.asarray(self.vocabulary, dtype=str),
                idf=self._idf,
                weights=self._weights.astype(np.float16),
                bias=self._bias,
            )


def _readable(gram: str) -> str:
    return gram[len(_WORD) :] if gram.startswith(_WORD) else gram[len(_CHAR) :].strip()


def load_model(path: Path) -> TopicModel:
    """Read a model file with numpy alone (`allow_pickle=False`)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FORMAT:
                raise ModelFileError(f"{path}: model format {meta.get('format')!r} is unknown")
            return TopicModel(
                version=str(meta["version"]),
                topics=[str(t) for t in meta["topics"]],
                vocabulary=data["vocabulary"].tolist(),
                idf=data["idf"],
                weights=data["weights"].astype(np.float32),
                bias=data["bias"],
                settings={str(k): float(v) for k, v in meta["settings"].items()},
            )
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(f"{path}: cannot read the topic model: {error}") from error


def active_model_path(pointer: Path = ACTIVE_POINTER) -> Path | None:
    """The model an operator activated (`lapor-hub route activate`), or None for rules only."""
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return (pointer.parent / name) if name else None


def load_active_model(pointer: Path = ACTIVE_POINTER) -> TopicModel | None:
    path = active_model_path(pointer)
    return None if path is None else load_model(path)
