"""The analyze_feedback outputs in AWS: the JSON summary in S3 and per-arm EMF metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from pipeline.adapters.aws.metrics import PowertoolsMetrics
from pipeline.adapters.aws.s3_summaries import S3SummaryWriter
from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryFeedbackStore
from pipeline.domain.experiments import parse_experiment
from pipeline.domain.feedback import FeedbackReport
from pipeline.domain.models import Feedback, ImplicitSignals

EXPERIMENT = parse_experiment(
    {"experiment_id": "net-steps", "template_id": "networking", "control": "v1", "weights": {"v1": 1, "v2": 1}},
    origin="test",
)


class Registry:
    def list_experiments(self):
        return [EXPERIMENT]


def test_summary_goes_to_s3_and_arm_metrics_are_emf(monkeypatch, capsys) -> None:
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    store = InMemoryFeedbackStore()
    for i, (variant, rating) in enumerate([("v1", 4), ("v1", 2), ("v2", 5)]):
        signals = ImplicitSignals(template_id="networking", template_version=variant, variant=variant,
                                  experiment_id="net-steps", response_type="answer", intent="networking")
        when = (now - timedelta(hours=1, minutes=i)).isoformat()
        store.put(Feedback(f"i{i}", f"sess-{i:05d}", f"r{i}", when, "implicit", signals=signals))
        store.put(Feedback(f"e{i}", f"sess-{i:05d}", f"r{i}", when, "explicit", rating=rating, signals=signals))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="summaries")
        capsys.readouterr()
        summary = FeedbackReport(store, PowertoolsMetrics(namespace="Test", service="assistant"), FixedClock(now),
                                 experiments=Registry(), summaries=S3SummaryWriter(s3, "summaries")).run(24)
        latest = json.loads(s3.get_object(Bucket="summaries", Key="feedback-summaries/latest.json")["Body"].read())
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="summaries")["Contents"])
    assert keys == ["feedback-summaries/2026/03/02/120000.json", "feedback-summaries/latest.json"]
    assert summary["summary_location"] == "s3://summaries/feedback-summaries/2026/03/02/120000.json"
    assert latest["experiments"][0]["recommendation"] == "keep running"  # 2 and 1 ratings: far below 200
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    arm = [b for b in blobs if "ExperimentCSAT" in b and b.get("variant") == "v1"]
    assert arm and arm[0]["ExperimentCSAT"] in (50.0, [50.0]) and arm[0]["experiment"] == "net-steps"
    assert arm[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] == ["service", "experiment", "variant"]
    verdicts = [b for b in blobs if "ExperimentRecommendation" in b]
    assert verdicts and verdicts[0]["recommendation"] == "keep running"
