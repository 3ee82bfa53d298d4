"""The shared n-gram features and the pure-Python binary head."""

from __future__ import annotations

import math

import pytest

from pipeline.domain.textfeatures import BinaryHead, HeadBank, LinearHeadError, ngram_features


def test_ngram_features_are_words_bigrams_and_in_word_character_grams() -> None:
    features = ngram_features("agent pls")
    assert {"w:agent", "w:pls", "b:agent pls", "c: ag", "c:nt ", "c: age"} <= features
    assert not any(f.startswith("c:") and "pls" in f for f in features if f != "c:pls" and "pl" not in f)
    # digits-only words give no character grams (ids and numbers are not morphology)
    assert not any(f.startswith("c:") for f in ngram_features("123456"))


def _head(threshold: float = 0.5, temperature: float = 1.0) -> BinaryHead:
    return BinaryHead.from_dict("toy", {"weights": {"w:human": 3.0, "w:bill": -2.0}, "bias": -1.0,
                                        "temperature": temperature, "threshold": threshold})


def test_probability_is_the_logistic_of_the_l2_normalised_score() -> None:
    head = _head()
    assert head.score({"w:human"}) == pytest.approx(2.0)
    assert head.score({"w:human", "w:bill"}) == pytest.approx(-1.0 + 1.0 / math.sqrt(2))
    assert head.probability({"w:human"}) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert head.decide({"w:human"}) and not head.decide({"w:bill"})


def test_temperature_softens_without_changing_the_order() -> None:
    sharp, soft = _head(temperature=1.0), _head(temperature=4.0)
    assert soft.probability({"w:human"}) < sharp.probability({"w:human"})
    assert soft.probability({"w:bill"}) > sharp.probability({"w:bill"})


def test_a_text_with_no_known_feature_is_never_a_yes_even_with_a_positive_bias() -> None:
    head = BinaryHead.from_dict("toy", {"weights": {"w:human": 1.0}, "bias": 5.0, "threshold": 0.5})
    assert head.probability({"w:unknown"}) > 0.99  # the prior...
    assert not head.decide({"w:unknown"})  # ...is not evidence
    assert head.decide({"w:human"})


def test_decide_agrees_with_probability_at_the_threshold() -> None:
    head = _head(threshold=0.8)
    for features in ({"w:human"}, {"w:human", "w:bill"}, {"w:bill"}):
        assert head.decide(features) == (head.probability(features) >= 0.8)


@pytest.mark.parametrize("bad", [
    {"bias": 0.0, "threshold": 0.5},                                # no weights
    {"weights": {"w:a": "x"}, "bias": 0.0, "threshold": 0.5},       # not a number
    {"weights": {}, "bias": 0.0, "threshold": 1.5},                 # threshold out of range
    {"weights": {}, "bias": 0.0, "threshold": 0.5, "temperature": 0},
])
def test_malformed_heads_are_rejected_with_the_head_name(bad: dict) -> None:
    with pytest.raises(LinearHeadError, match="toy"):
        BinaryHead.from_dict("toy", bad)


def _reference_features(lowered: str) -> set[str]:
    """ngram_features written out without its word cache (what it must equal)."""
    import re

    words = re.findall(r"[a-z0-9]+", lowered)
    features = set()
    for word in words:
        features.add("w:" + word)
        if len(word) > 2 and not word.isdigit():
            padded = " " + word[:20] + " "
            features.update("c:" + padded[i : i + 3] for i in range(len(padded) - 2))
            features.update("c:" + padded[i : i + 4] for i in range(len(padded) - 3))
    features.update("b:" + a + " " + b for a, b in zip(words, words[1:], strict=False))
    return features


@pytest.mark.parametrize("text", ["", "agent pls agent pls", "a b cd 123 4567 abcdefghijklmnopqrstuvwxyz0123 x" * 3,
                                  "the the the bill bill", "ec2 s3 i-0abc123 arn:aws:iam::123"])
def test_ngram_features_with_the_word_cache_equal_the_written_out_definition(text: str) -> None:
    assert ngram_features(text) == _reference_features(text)
    assert ngram_features(text) == _reference_features(text)  # second time from the cache


def test_a_head_bank_decides_exactly_as_each_head() -> None:
    """One lookup per feature for several heads, with heads that miss some features and a
    zero weight (present, so it counts in the average)."""
    import random

    rng = random.Random(7)
    vocab = [f"w:{i}" for i in range(60)]
    heads = [BinaryHead(f"h{k}", {f: rng.uniform(-3, 3) if rng.random() > 0.1 else 0.0
                                  for f in vocab if rng.random() > 0.3},
                        rng.uniform(-1, 1), rng.uniform(0.5, 2), rng.uniform(0.2, 0.8), {}) for k in range(3)]
    bank = HeadBank(heads)
    for _ in range(300):
        features = set(rng.sample(vocab + ["w:unknown"], rng.randint(0, 12)))
        assert bank.decisions(features) == [h.decide(features) for h in heads]
        assert bank.decisions(features, skip={"h1"}) == [heads[0].decide(features), False, heads[2].decide(features)]


def test_a_head_bank_decides_from_words_exactly_as_from_features() -> None:
    """The word-level fast path (ids, cached per word, columns per head) against the feature
    path, on texts whose words share character n-grams and bigrams, with heads that miss
    features, zero weights, and the shipped heads."""
    import random
    import re

    from pipeline.domain.guardrails.topic_model import load_heads

    rng = random.Random(11)
    syllables = ["pa", "ss", "wor", "d", "key", "the", "ing", "ac", "ce", "ss", "1", "22", "tok", "en"]
    vocab_words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(40)]
    feature_pool = sorted(set().union(*(ngram_features(w) for w in vocab_words))
                          | {"b:" + a + " " + b for a in vocab_words[:10] for b in vocab_words[:10]})
    heads = [BinaryHead(f"h{k}", {f: rng.uniform(-3, 3) if rng.random() > 0.1 else 0.0
                                  for f in feature_pool if rng.random() > 0.3},
                        rng.uniform(-1, 1), rng.uniform(0.5, 2), rng.uniform(0.2, 0.8), {}) for k in range(3)]
    for bank in (HeadBank(heads), HeadBank(load_heads())):
        for _ in range(300):
            text = " ".join(rng.choice(vocab_words + ["password", "roadmap", "ignore"]) for _ in range(rng.randint(0, 30)))
            words = re.findall(r"[a-z0-9]+", text)
            features = ngram_features(text, words)
            assert bank.decisions_for_words(words) == bank.decisions(features)
            skip = {bank.heads[1].name}
            assert bank.decisions_for_words(words, skip) == bank.decisions(features, skip)


def _decide_with_fsum(head: BinaryHead, present: list[float]) -> bool:
    """The written-out decision: an exact sum, then the calibrated score against the threshold."""
    if not present:
        return False
    z = (head.bias + math.fsum(present) / math.sqrt(len(present))) / head.temperature
    return z >= math.log(head.threshold / (1.0 - head.threshold))


def test_a_head_decides_as_with_an_exact_sum_even_at_a_hair_from_its_threshold() -> None:
    """decide_weights sums with ``sum`` and falls back to ``fsum`` near the threshold: the
    decisions equal the exact-sum ones, on scores set to land on the threshold (where the
    rounding of a plain sum would flip them) and with heavy cancellation."""
    import random

    rng = random.Random(5)
    for trial in range(3000):
        size = rng.randint(1, 400)
        present = [rng.uniform(-3, 3) * 10 ** rng.randint(-3, 3) for _ in range(size)]
        if trial % 3 == 0:
            present += [1e16, -1e16, 1.0]  # cancellation a plain sum gets wrong
        temperature, threshold = rng.uniform(0.5, 2), rng.uniform(0.2, 0.9)
        logit = math.log(threshold / (1.0 - threshold))
        # a bias that puts the exact score on the threshold, give or take a few ulps
        bias = logit * temperature - math.fsum(present) / math.sqrt(len(present))
        bias += rng.choice([0.0, 1e-15, -1e-15, 1e-12, -1e-12, 0.5, -0.5]) * abs(bias or 1.0)
        head = BinaryHead("h", {}, bias, temperature, threshold, {})
        assert head.decide_weights(present) == _decide_with_fsum(head, present)
