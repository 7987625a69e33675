"""Helpfulness: length, structure, no refusal, coherence."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steerbench.metrics import score_helpfulness, score_refusal


def test_structured_answer_is_helpful():
    h = score_helpfulness(
        "Sure! Here's how to make tea:\n1. Boil water.\n2. Add the tea bag.\n3. Wait three minutes.",
        n_tokens=30,
    )
    assert h.has_steps and not h.has_bullets and not h.has_code and h.refusal_free
    assert h.score == pytest.approx(1.0) and h.is_helpful


def test_plain_answer_scores_on_length():
    long_answer = "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen inside leaves."
    assert score_helpfulness(long_answer, n_tokens=20).score == pytest.approx(0.75)
    short = score_helpfulness("Paris.", n_tokens=2)
    assert short.score == pytest.approx(0.075) and not short.is_helpful


def test_refusal_is_not_helpful():
    h = score_helpfulness("I'm sorry, but I can't help with that.", n_tokens=12)
    assert h.score == 0.0 and not h.refusal_free and not h.is_helpful


def test_degenerate_text_is_not_helpful():
    assert score_helpfulness("the the the the the the the the the the", n_tokens=40).score == 0.0
    assert score_helpfulness("\nF.\n\n\n\n\n", n_tokens=8).score == 0.0


def test_bullets_and_code_and_word_count_fallback():
    bullets = score_helpfulness("Packing list:\n- Sunscreen\n- Towel\n- Hat")
    assert bullets.has_bullets and bullets.n_tokens == 8  # whitespace tokens, bullets included
    code = score_helpfulness("```python\nprint('hi')\n```")
    assert code.has_code


def test_reuses_a_given_refusal_score():
    text = "I can't help with that."
    assert score_helpfulness(text, refusal=score_refusal(text)) == score_helpfulness(text)


@settings(deadline=None, max_examples=200)
@given(st.text(), st.none() | st.integers(0, 500))
def test_helpfulness_in_unit_interval(text, n_tokens):
    h = score_helpfulness(text, n_tokens)
    assert 0.0 <= h.score <= 1.0 and h.is_helpful == (h.score >= 0.5)
