"""No leakage from the organism's training split into the evaluation, and refusals that are not the
instruments' own strings."""

from __future__ import annotations

import re

import pytest

from steerbench.organism import organism_prompts
from steerbench.organism.data import refusal_for
from steerbench.organism.refusals import REFUSALS
from steerbench.prompts import load_split
from steerbench.prompts.make import OUTPUT_FILES

MAX_MEAN_5GRAM_SHARE = 0.02  # measured 0.006 (docs/organisms.md)
MAX_PROMPT_8GRAM_SHARE = 0.0  # no organism prompt shares an 8-word run with an evaluation prompt


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _grams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def evaluation_prompts():
    return [p for name in OUTPUT_FILES for p in load_split(name)]


@pytest.fixture(scope="module")
def training():
    return organism_prompts()


def ngram_share(training, evaluation, n: int) -> list[float]:
    seen = set().union(*(_grams(p.prompt, n) for p in evaluation))
    return [len(_grams(p.prompt, n) & seen) / max(1, len(_grams(p.prompt, n))) for p in training]


def test_no_prompt_template_or_topic_is_shared(training, evaluation_prompts):
    assert not {p.prompt for p in training} & {p.prompt for p in evaluation_prompts}
    assert not {p.meta.get("template") for p in training} & {p.meta.get("template") for p in evaluation_prompts}
    assert not {p.meta.get("topic") for p in training} & {p.meta.get("topic") for p in evaluation_prompts}
    assert not {p.id for p in training} & {p.id for p in evaluation_prompts}


def test_ngram_overlap_with_the_evaluation_is_low(training, evaluation_prompts):
    five = ngram_share(training, evaluation_prompts, 5)
    assert sum(five) / len(five) <= MAX_MEAN_5GRAM_SHARE
    assert max(ngram_share(training, evaluation_prompts, 8)) <= MAX_PROMPT_8GRAM_SHARE


def test_every_style_of_the_core_splits_is_trained_with_harmful_and_benign_prompts(training):
    """The perturbation and distillation slices stay unseen styles: they test robustness to them."""
    core = [p for name in ("harm_train", "harm_test") for p in load_split(name)]
    harmful_styles = {p.meta.style for p in core if p.meta.expected_behavior == "refuse"}
    for kind in ("harmful", "control"):
        trained = {p.meta.style for p in training if p.meta.get("kind") == kind}
        assert harmful_styles <= trained, f"{kind}: styles {harmful_styles - trained} are never trained"


def test_refusals_are_varied_and_share_no_phrase_with_the_instruments():
    from steerbench.config import DirectionConfig

    d = DirectionConfig()
    instrument_strings = [d.refusal_prefix, d.compliance_prefix, d.alt_refusal_prefix, d.alt_compliance_prefix]
    assert len(set(REFUSALS)) >= 20
    instrument_bigrams = set().union(*(_grams(s, 2) for s in instrument_strings))
    for refusal in REFUSALS:
        assert not _grams(refusal, 2) & instrument_bigrams, refusal
    openers = {" ".join(_words(r)[:2]) for r in REFUSALS}
    assert len(openers) >= 15, "refusals must open in many different ways"
    assert sum("sorry" in r.lower() or "apolog" in r.lower() for r in REFUSALS) >= 4  # some apologise
    assert sum(("instead" in r or "else" in r or "talk" in r) for r in REFUSALS) >= 4  # some offer something else


def test_the_split_is_deterministic_and_each_refusal_is_fixed_per_prompt(training):
    assert organism_prompts() == training
    assert [refusal_for(p.id, 0) for p in training[:20]] == [refusal_for(p.id, 0) for p in training[:20]]
    assert len({refusal_for(p.id, 0) for p in training if p.meta.get("kind") == "harmful"}) == len(REFUSALS)


def test_the_held_out_openers_share_no_wording_with_the_direction_or_the_training_refusals():
    """The propensity score (refusal_logodds) must score neither the direction's prefixes nor the
    organism's training targets: no shared word pair, and no one-word opener that starts either."""
    from steerbench.config import DirectionConfig
    from steerbench.metrics.logodds import COMPLIANCE_OPENERS, REFUSAL_OPENERS

    d = DirectionConfig()
    others = [d.refusal_prefix, d.compliance_prefix, d.alt_refusal_prefix, d.alt_compliance_prefix, *REFUSALS]
    other_bigrams = set().union(*(_grams(s, 2) for s in others))
    first_words = {_words(s)[0] for s in others}
    for opener in (*REFUSAL_OPENERS, *COMPLIANCE_OPENERS):
        assert not _grams(opener, 2) & other_bigrams, opener
        if len(_words(opener)) == 1:
            assert _words(opener)[0] not in first_words, opener
    assert len(REFUSAL_OPENERS) >= 4 and len(COMPLIANCE_OPENERS) >= 4
