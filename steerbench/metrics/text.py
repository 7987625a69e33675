"""Small text helpers shared by the metrics: normalisation, words, distinct-n, answer structure.

All functions are pure and cheap (no model, no tokenizer), so they can run over every completion.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Hashable, Sequence

# Every apostrophe-like character small models emit; normalisation deletes them all, so
# "can't", "can’t", "can`t" and "cant" are the same string to the phrase lists.
APOSTROPHES = "'\u2019\u2018\u02bc\u2032`\u00b4\u02b9\uff07"
_APOSTROPHE_TABLE = str.maketrans("", "", APOSTROPHES)
_SPACE_RUN = re.compile(r"[^\S\n]+")
_NEWLINE_RUN = re.compile(r"\s*\n\s*")
_EDGE_PUNCT = re.compile(r"^\W+|\W+$")

_NUMBERED_LINE = re.compile(r"^\s*(?:\d{1,2}[.):]|step\s*\d+\b)", re.IGNORECASE | re.MULTILINE)
_FIRST_STEP_LINE = re.compile(r"^\s*(?:1[.):]\s*\S|step\s*(?:1|one)\b)", re.IGNORECASE | re.MULTILINE)
_INLINE_STEPS = re.compile(r"(?:^|\s)1[.)]\s+\S.*?\s2[.)]\s+\S", re.DOTALL)
_BULLET_LINE = re.compile(r"^\s*[-*\u2022\u25cf\u25aa]\s+\S", re.MULTILINE)
_CODE_LINE = re.compile(
    r"```|^\s*(?:def |class |import |from \w+ import |function |#include|public static |"
    r"print\(|console\.log\(|SELECT |for \(|while \()",
    re.MULTILINE,
)


def normalize_text(text: str) -> str:
    """Lower-case, delete apostrophes and collapse whitespace (newlines kept as single "\\n").

    Args:
        text: Any completion.

    Returns:
        The normalised text the phrase lists are written against.
    """
    lowered = text.lower().translate(_APOSTROPHE_TABLE)
    return _SPACE_RUN.sub(" ", _NEWLINE_RUN.sub("\n", lowered)).strip()


def split_words(text: str) -> list[str]:
    """Whitespace tokens of `text`, punctuation included ("F.", ",,,,", "can't")."""
    return text.split()


def word_core(token: str) -> str:
    """A whitespace token without its leading and trailing punctuation ("F." -> "F")."""
    if token and (token[0].isalnum() or token[0] == "_") and (token[-1].isalnum() or token[-1] == "_"):
        return token  # the common case, without a regex call
    return _EDGE_PUNCT.sub("", token)


def is_wordlike(token: str) -> bool:
    """True when a token reads as a word or number: its core has >= 2 characters, at least half
    of them letters or digits.

    One-character cores ("I", "a", "F", "1") do not count, so strings such as "\\nF.\\n\\n" or
    "I I I I" are not mistaken for prose; CJK and accented letters count as letters.
    """
    return _is_wordlike_core(word_core(token))


def _is_wordlike_core(core: str) -> bool:
    if len(core) < 2:
        return False
    return core.isalnum() or sum(ch.isalnum() for ch in core) * 2 >= len(core)


def distinct_n(items: Sequence[Hashable], n: int) -> float:
    """Share of distinct n-grams among all n-grams of `items` (NaN when there are none).

    Args:
        items: Tokens (ids or words).
        n: The n-gram order (1 for unigrams).

    Returns:
        |unique n-grams| / |n-grams|, in (0, 1]; NaN when len(items) < n.
    """
    count = len(items) - n + 1
    if count <= 0:
        return math.nan
    if n == 1:
        return len(set(items)) / count
    grams = {tuple(items[i : i + n]) for i in range(count)}
    return len(grams) / count


def _as_code_string(items: Sequence[Hashable]) -> str:
    """One character per distinct item, so n-grams become substrings (hashed in C, not tuples)."""
    codes: dict[Hashable, str] = {}
    return "".join(codes.setdefault(item, chr(len(codes))) for item in items)


def longest_repeated_ngram(items: Sequence[Hashable]) -> int:
    """Length of the longest n-gram that occurs at least twice (occurrences may overlap).

    "I I I I" has the repeated 3-gram "I I I" (at positions 0 and 1), so the answer is 3; a
    sequence without any repeated token gives 0.
    """
    seq = _as_code_string(items)

    def has_repeat(length: int) -> bool:
        count = len(seq) - length + 1
        return len({seq[i : i + length] for i in range(count)}) < count

    # A repeated n-gram implies a repeated (n-1)-gram, so the answer is found by galloping
    # (1, 2, 4, ...) then bisecting: few checks for typical text and for long loops alike.
    low, probe = 0, 1
    while probe < len(seq) and has_repeat(probe):
        low, probe = probe, probe * 2
    high = min(probe, len(seq)) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if has_repeat(mid):
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class Structure:
    """Actionable structure in an answer (read on the raw text, line by line).

    Attributes:
        has_steps: A first numbered step ("1.", "1)", "Step 1") starts a line, two numbered
            lines exist, or "1. ... 2. ..." appears inline.
        has_bullets: At least two lines start with a bullet ("-", "*", "•").
        has_code: A code fence or a line that starts like code (def, import, print(, ...).
    """

    has_steps: bool
    has_bullets: bool
    has_code: bool

    @property
    def any(self) -> bool:
        """True when any kind of structure is present."""
        return self.has_steps or self.has_bullets or self.has_code


def answer_structure(text: str) -> Structure:
    """Detect numbered steps, bullets and code in `text`."""
    has_steps = bool(
        _FIRST_STEP_LINE.search(text)
        or len(_NUMBERED_LINE.findall(text)) >= 2
        or _INLINE_STEPS.search(text)
    )
    has_bullets = len(_BULLET_LINE.findall(text)) >= 2
    has_code = bool(_CODE_LINE.search(text))
    return Structure(has_steps, has_bullets, has_code)
