"""How far harm_test is shifted from harm_train: lexical overlap, shared templates and topics, mixes.

Word n-gram Jaccard is |A ∩ B| / |A ∪ B| over the *sets* of lower-cased word n-grams of two groups
of prompts. Set overlap grows with group size, so the report compares like with like: half of
harm_train against the other half (the no-shift reference) and the same half against an equally
large half of harm_test (the shift). Halves are the even- and odd-numbered prompts in file order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from steerbench.prompts.schema import PromptSet

NGRAM_SIZES = (1, 2, 3)
_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Overlap:
    train: int  # distinct values in harm_train
    test: int  # distinct values in harm_test
    shared: int


@dataclass(frozen=True)
class ShiftReport:
    n_train: int
    n_test: int
    # (n, Jaccard of train half vs test half, Jaccard of train half vs train half, full sets)
    ngram_jaccard: tuple[tuple[int, float, float, float], ...]
    templates: Overlap
    topics: Overlap
    subfamilies: Overlap
    family_mix: tuple[tuple[str, int, int], ...]  # (family, count in train, count in test)
    style_mix: tuple[tuple[str, int, int], ...]


def word_ngrams(texts: Iterable[str], n: int) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for text in texts:
        words = _WORD.findall(text.lower())
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def jaccard(first: set, second: set) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def shift_report(train: PromptSet, test: PromptSet) -> ShiftReport:
    train_texts, test_texts = train.texts(), test.texts()
    rows = []
    for n in NGRAM_SIZES:
        train_even, train_odd = word_ngrams(train_texts[0::2], n), word_ngrams(train_texts[1::2], n)
        test_even = word_ngrams(test_texts[0::2], n)
        full = jaccard(word_ngrams(train_texts, n), word_ngrams(test_texts, n))
        rows.append((n, jaccard(train_even, test_even), jaccard(train_even, train_odd), full))
    return ShiftReport(
        n_train=len(train),
        n_test=len(test),
        ngram_jaccard=tuple(rows),
        templates=_overlap(train, test, "template"),
        topics=_overlap(train, test, "topic"),
        subfamilies=_overlap(train, test, "subfamily"),
        family_mix=_mix(train, test, "family"),
        style_mix=_mix(train, test, "style"),
    )


def _values(prompts: PromptSet, key: str) -> set[str]:
    return {str(prompt.meta.get(key)) for prompt in prompts if prompt.meta.get(key) is not None}


def _overlap(train: PromptSet, test: PromptSet, key: str) -> Overlap:
    train_values, test_values = _values(train, key), _values(test, key)
    return Overlap(len(train_values), len(test_values), len(train_values & test_values))


def _mix(train: PromptSet, test: PromptSet, field: str) -> tuple[tuple[str, int, int], ...]:
    train_counts = Counter(getattr(prompt.meta, field) for prompt in train)
    test_counts = Counter(getattr(prompt.meta, field) for prompt in test)
    return tuple((value, train_counts[value], test_counts[value]) for value in sorted(train_counts | test_counts))


def format_shift_report(report: ShiftReport) -> str:
    """A plain-text table (also pasted into data/prompts/README.md; a test keeps them equal)."""
    lines = [
        f"Shift report: harm_train ({report.n_train}) vs harm_test ({report.n_test})",
        "  word n-gram Jaccard    train half vs test half    train half vs train half    full sets",
    ]
    for n, shifted, reference, full in report.ngram_jaccard:
        lines.append(f"  {n}-gram                 {shifted:<26.3f} {reference:<27.3f} {full:.3f}")
    for label, overlap in (("templates", report.templates), ("topics", report.topics),
                           ("sub-families", report.subfamilies)):
        lines.append(
            f"  {label + ':':<14} {overlap.train} in train, {overlap.test} in test, {overlap.shared} shared"
        )
    lines += _mix_lines("family mix", report.family_mix, report)
    lines += _mix_lines("style mix", report.style_mix, report)
    return "\n".join(lines)


def _mix_lines(title: str, mix: tuple[tuple[str, int, int], ...], report: ShiftReport) -> list[str]:
    lines = [f"  {title:<22} {'harm_train':>12} {'harm_test':>12}"]
    for value, train_count, test_count in mix:
        lines.append(
            f"    {value:<20} {_share(train_count, report.n_train):>12} {_share(test_count, report.n_test):>12}"
        )
    return lines


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f}%)" if total else "0"
