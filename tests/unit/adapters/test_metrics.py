"""Metrics sinks: in-memory for tests, EMF through Powertools for CloudWatch."""

from __future__ import annotations

import json
import warnings

import pytest

from pipeline.adapters.aws.metrics import PowertoolsMetrics
from pipeline.adapters.local.metrics import InMemoryMetrics


def test_in_memory_metrics_totals_by_dimension_and_flushes() -> None:
    sink = InMemoryMetrics()
    sink.put_metric("Queries", 1, dimensions={"response_type": "answer"})
    sink.put_metric("Queries", 1, dimensions={"response_type": "blocked"})
    assert sink.total("Queries") == 2 and sink.total("Queries", response_type="blocked") == 1
    sink.flush()
    assert not sink.pending and len(sink.flushed) == 2


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_powertools_metrics_write_emf_with_namespace_and_dimensions(capsys) -> None:
    from aws_lambda_powertools import Metrics

    # Powertools shares one metric set per process (right for a Lambda); handler tests that
    # ran earlier in this worker may have left metrics in it.
    Metrics().clear_metrics()
    sink = PowertoolsMetrics(namespace="SupportAssistantTest", service="assistant")
    sink.put_metric("Queries", 1, "Count", {"response_type": "answer"})
    sink.put_metric("QualityScore", 0.91, "None")
    sink.put_metric("WorkflowLatency", 120.5, "Milliseconds")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sink.flush()
        sink.flush()  # nothing pending: no empty blob, no warning
    blobs = emf_lines(capsys.readouterr().out)
    assert len(blobs) == 2
    single, batch = blobs
    directive = single["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SupportAssistantTest"
    assert ["service", "response_type"] in directive["Dimensions"]
    assert single["response_type"] == "answer" and single["Queries"] in (1.0, [1.0])
    names = {m["Name"]: m["Unit"] for m in batch["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"QualityScore": "None", "WorkflowLatency": "Milliseconds"}


def test_powertools_metrics_reject_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unit"):
        PowertoolsMetrics(namespace="N", service="s").put_metric("X", 1, "Furlongs")
