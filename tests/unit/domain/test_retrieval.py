"""Tests for the BM25 index (pipeline.domain.retrieval)."""

from __future__ import annotations

import math

import pytest

from pipeline.domain.retrieval import BM25Index, stem, terms, words


def test_stemming_joins_inflections_and_leaves_identifiers_alone():
    assert stem("timing") == stem("timed") == stem("times") == stem("time")
    assert [stem(w) for w in ("ec2", "s3", "503", "route53")] == ["ec2", "s3", "503", "route53"]


def test_words_drop_stopwords_and_split_closed_compounds():
    assert words("My Lambda function has a timeout") == ["lambda", "function", "tim", "out"]


def test_pairs_come_from_plain_phrases_not_from_command_lines():
    found = terms("connection timed out. ssh -i key.pem ec2-user@host")
    assert "connection_tim" in found and "tim_out" in found
    assert "key_pem" not in found and "ec2_user" not in found and "out_ssh" not in found
    assert {"ssh", "key", "pem", "ec2", "user"} <= set(found)


def test_pairs_span_one_intervening_word():
    assert "function_tim" in terms("function keeps timing out")


def test_scores_follow_the_bm25_formula():
    index = BM25Index.build(
        [("a", {"body": "alpha alpha beta"}), ("b", {"body": "beta gamma"}), ("c", {"body": "delta"})],
    )
    n, df, k1, b = 3, 1, index.k1, index.b
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    # words + pairs (window 2): alpha alpha beta + alpha_alpha alpha_beta alpha_beta; beta gamma beta_gamma
    lengths = [6, 3, 1]
    avgdl = sum(lengths) / 3
    tf = 2
    expected = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[0] / avgdl))
    hits = index.search("alpha")
    assert [h.doc_id for h in hits] == ["a"]
    assert hits[0].score == pytest.approx(expected, rel=1e-5)
    assert index.idf("missing") == 0.0


def test_rare_terms_outweigh_common_ones():
    index = BM25Index.build(
        [
            ("ssh", {"body": "ssh connection times out"}),
            ("lambda", {"body": "task times out after seconds"}),
            ("other", {"body": "out of memory"}),
        ]
    )
    assert index.search("ssh times out")[0].doc_id == "ssh"
    assert index.idf("ssh") > index.idf("out")


def test_field_weights_repeat_a_fields_terms():
    docs = [("title", {"title": "quota", "body": "other"}), ("body", {"title": "other", "body": "quota"})]
    assert BM25Index.build(docs, field_weights={"title": 3})
    ranked = BM25Index.build(docs, field_weights={"title": 3}).search("quota")
    assert [h.doc_id for h in ranked] == ["title", "body"]
    flipped = BM25Index.build(docs, field_weights={"title": 0}).search("quota")
    assert [h.doc_id for h in flipped] == ["body"]


def test_raw_fields_are_reached_only_through_extra_terms():
    index = BM25Index.build(
        [("x", {"body": "bucket policy", "tags": ["intent=s3"]}), ("y", {"body": "bucket policy"})],
        raw_fields=("tags",),
    )
    plain = index.search("bucket policy")
    assert [h.doc_id for h in plain] == ["y", "x"]  # the tag only lengthens x
    tagged = index.search("bucket policy", extra_terms=("intent=s3",))
    assert tagged[0].doc_id == "x" and "intent=s3" in tagged[0].matched
    assert tagged[0].score > tagged[1].score
    assert index.search("intent=s3") == []  # the tag is not text


def test_ties_keep_collection_order_and_limit_applies():
    index = BM25Index.build([("b", {"body": "same words"}), ("a", {"body": "same words"})])
    assert [h.doc_id for h in index.search("same words")] == ["b", "a"]
    assert len(index.search("same words", limit=1)) == 1
    assert index.search("unrelated") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k1": -1}, "k1"), ({"b": 1.5}, "k1"), ({}, "unique")],
)
def test_invalid_construction_is_refused(kwargs, message):
    ids = ["a", "a"] if not kwargs else ["a", "b"]
    with pytest.raises(ValueError, match=message):
        BM25Index(ids, [{"x": 1}, {"y": 1}], **kwargs)
