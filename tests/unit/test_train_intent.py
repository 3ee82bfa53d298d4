"""evals.train_intent: reproducible training, calibration helpers, the exported model loads."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("sklearn")

from evals.datasets import GoldenCase, load_cases  # noqa: E402
from evals.train_intent import (  # noqa: E402
    CLINC_PATH,
    INTENT_SET,
    OUT_OF_SCOPE_SET,
    TrainSettings,
    clinc_out_of_scope_sample,
    derive_out_of_scope_suite,
    fit_temperature,
    main,
    train,
    training_data_sha256,
    write_model,
)
from pipeline.domain.intent import IntentModel, load_intent_model  # noqa: E402
from pipeline.domain.models import INTENTS  # noqa: E402


@pytest.fixture(scope="module")
def small_cases() -> list[GoldenCase]:
    """A small, fixed subset: the first 12 train and 4 dev cases of every intent."""
    cases = load_cases(INTENT_SET, splits=("train", "dev"))
    subset: list[GoldenCase] = []
    for intent in INTENTS:
        of_intent = [c for c in cases if c.expected["intent"] == intent]
        subset += [c for c in of_intent if c.split == "train"][:12] + [
            c for c in of_intent if c.split == "dev"
        ][:4]
    return subset


@pytest.fixture(scope="module")
def small_model(small_cases):
    return train(small_cases, settings=TrainSettings(clinc_per_intent=0, clinc_oos=0))


def test_training_twice_gives_identical_json(small_cases, small_model, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_model(small_model, first)
    write_model(
        train(list(small_cases), settings=TrainSettings(clinc_per_intent=0, clinc_oos=0)), second
    )
    assert first.read_bytes() == second.read_bytes()


def test_exported_model_loads_and_predicts(small_cases, small_model, tmp_path):
    path = tmp_path / "model.json"
    write_model(small_model, path)
    model = load_intent_model(path)
    assert isinstance(model, IntentModel)
    probabilities = model.predict_proba("my s3 bucket upload returns 403")
    assert sum(probabilities.values()) == pytest.approx(1.0)
    data = json.loads(path.read_text())
    assert data["training"]["data_sha256"] == training_data_sha256(small_cases)
    assert data["training"]["settings"]["seed"] == 13
    assert data["calibration"]["temperature"] > 0
    assert 0.0 <= data["calibration"]["clarify_threshold"] <= 0.6


def test_training_never_reads_the_test_split(small_cases):
    test_case = GoldenCase(
        id="t-1",
        input="totally unique test sentence zebra",
        expected={"intent": "ec2_troubleshooting", "needs_clarification": False, "escalate": False},
        tags=(),
        split="test",
        source="x",
    )
    settings = TrainSettings(clinc_per_intent=0, clinc_oos=0, min_df=1)
    with_test = train([*small_cases, test_case], settings=settings)
    without = train(small_cases, settings=settings)
    assert with_test == without
    assert "w:zebra" not in with_test["weights"]


def test_cli_writes_the_model(tmp_path, small_cases):
    data = tmp_path / "intent.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": c.id,
                    "input": c.input,
                    "expected": c.expected,
                    "tags": list(c.tags),
                    "split": c.split,
                    "source": c.source,
                }
            )
            for c in small_cases
        )
        + "\n"
    )
    output = tmp_path / "out.json"
    assert main(["--data", str(data), "--output", str(output), "--no-clinc"]) == 0
    assert json.loads(output.read_text())["training"]["extra_out_of_scope"] == 0


def test_fit_temperature_recovers_a_known_temperature():
    # Logits whose true temperature is 2: labels drawn to match softmax(z / 2) frequencies.
    logits, labels = [], []
    for _ in range(50):
        row = [4.0, 0.0]
        p_first = math.exp(2.0) / (math.exp(2.0) + 1.0)
        n_first = round(p_first * 100)
        logits += [row] * 100
        labels += [0] * n_first + [1] * (100 - n_first)
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.05)
    assert fit_temperature([], []) == 1.0


def test_clinc_sample_is_fixed_and_excludes_val(tmp_path):
    source = tmp_path / "clinc.json"
    source.write_text(
        json.dumps(
            {
                "train": [
                    [f"train text {i} {label}", label] for label in ("a", "b") for i in range(5)
                ],
                "val": [["val text", "a"]],
                "oos_train": [[f"oos {i}", "oos"] for i in range(5)],
                "oos_val": [["oos val", "oos"]],
            }
        )
    )
    first = clinc_out_of_scope_sample(source, per_intent=2, oos=3, seed=1)
    assert first == clinc_out_of_scope_sample(source, per_intent=2, oos=3, seed=1)
    assert len(first) == 7
    assert "val text" not in first and "oos val" not in first
    assert clinc_out_of_scope_sample(source, per_intent=0, oos=0, seed=1) == []


@pytest.mark.skipif(not CLINC_PATH.is_file(), reason="CLINC150 development data not present")
def test_committed_out_of_scope_suite_is_reproducible():
    derived = "".join(
        json.dumps(c, ensure_ascii=False) + "\n" for c in derive_out_of_scope_suite(CLINC_PATH)
    )
    assert derived == OUT_OF_SCOPE_SET.read_text(encoding="utf-8")


def test_fit_temperature_skips_cases_whose_gold_class_is_vetoed():
    logits = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]
    labels = [0, 1, 2]
    plain = fit_temperature(logits[:2], labels[:2])
    # The third case's gold class is removed at runtime: it cannot move the temperature.
    assert fit_temperature(logits, labels, [None, None, 2]) == plain


def test_clarify_threshold_is_the_utility_break_even():
    from evals.train_intent import CLARIFY_UTILITY, utility_threshold

    t = utility_threshold()
    u = CLARIFY_UTILITY
    answer = t * u["right_answer"] + (1 - t) * u["wrong_answer"]
    assert answer == pytest.approx(u["unneeded_question"], abs=0.01)


def test_missing_clinc_is_an_error_not_a_quieter_model(tmp_path, capsys):
    output = tmp_path / "model.json"
    code = main(["--clinc", str(tmp_path / "absent.json"), "--output", str(output)])
    assert code == 2
    assert not output.exists()
    assert "CLINC150 not found" in capsys.readouterr().err


def test_the_committed_clinc_copy_is_what_training_reads():
    from evals.train_intent import CLINC_PATH

    assert CLINC_PATH.is_file() and (CLINC_PATH.parent / "README.md").is_file()
    assert "CC BY 3.0" in (CLINC_PATH.parent / "README.md").read_text(encoding="utf-8")


def test_without_head_settings_the_classifier_is_fitted_alone(small_cases, small_model):
    """The cross-validation of the classifier (evals.intent_cv --no-head) skips the head; the
    classifier and its calibration are the same as with it."""
    alone = train(small_cases, settings=TrainSettings(clinc_per_intent=0, clinc_oos=0), head_settings=None)
    assert alone["heads"] == {}
    assert "escalate" in small_model["heads"]
    assert alone["weights"] == small_model["weights"]
    assert alone["calibration"]["temperature"] == small_model["calibration"]["temperature"]
    IntentModel.from_dict(alone)  # loads at runtime without a head


def test_the_escalate_head_records_its_scope_and_trains_on_clinc_negatives(small_cases):
    """asks_out_of_scope travels in the head's metadata (the runtime reads it); the CLINC
    negatives are training cases only, never in the threshold pool."""
    from evals.train_intent import EscalateHeadSettings, clinc_negative_sample

    extra = clinc_out_of_scope_sample(CLINC_PATH, 1, 5, 13)
    settings = TrainSettings(clinc_per_intent=1, clinc_oos=5)
    pools = []
    model = train(small_cases, settings=settings, extra_out_of_scope=extra,
                  head_settings=EscalateHeadSettings(asks_out_of_scope=True, clinc_negatives=40),
                  on_escalate_pool=lambda p, y, r: pools.append(len(p)))
    head = model["heads"]["escalate"]["metadata"]
    train_count = sum(1 for c in small_cases if c.split == "train")
    dev_count = sum(1 for c in small_cases if c.split == "dev")
    assert head["asks_out_of_scope"] is True
    assert head["clinc_negatives"] == 40
    assert head["train_cases"] == train_count + 40
    assert pools == [dev_count + train_count]
    assert IntentModel.from_dict(model).escalate_head_asks_out_of_scope
    assert not IntentModel.from_dict(small_model_default := train(
        small_cases, settings=TrainSettings(clinc_per_intent=0, clinc_oos=0))).escalate_head_asks_out_of_scope
    assert small_model_default["heads"]["escalate"]["metadata"]["clinc_negatives"] == 0
    sample = clinc_negative_sample(extra, 40, 13)
    assert sample == clinc_negative_sample(list(reversed(extra)), 40, 13)  # fixed, order-free
    assert set(sample) <= set(extra)
