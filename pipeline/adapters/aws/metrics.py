"""PowertoolsMetrics: the MetricsSink as CloudWatch Embedded Metric Format (EMF) logs.

Powertools writes EMF JSON to stdout; CloudWatch turns it into metrics, with no API call
from the Lambda. Metrics without dimensions are batched into one EMF blob per
:meth:`flush`; a metric with its own dimensions (``response_type``, ``category``,
``intent``) is written at once as a single-metric blob, because EMF shares dimensions
across the metrics of a blob. Powertools is imported lazily, when the sink is built.

Example:
    >>> sink = PowertoolsMetrics(namespace="SupportAssistant", service="assistant")  # doctest: +SKIP
    >>> sink.put_metric("Queries", 1, dimensions={"response_type": "answer"})  # doctest: +SKIP
    >>> sink.flush()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any


class PowertoolsMetrics:
    """MetricsSink over ``aws_lambda_powertools.Metrics``.

    Args:
        namespace: CloudWatch namespace; defaults to ``POWERTOOLS_METRICS_NAMESPACE``.
        service: the ``service`` dimension; defaults to ``POWERTOOLS_SERVICE_NAME``.
    """

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        from aws_lambda_powertools.metrics import Metrics, MetricUnit, single_metric

        self._namespace = (
            namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SupportAssistant"
        )
        self._service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "support-assistant"
        self._metrics = Metrics(namespace=self._namespace, service=self._service)
        self._units = MetricUnit
        self._single_metric = single_metric
        self._pending = 0  # Powertools warns on an empty flush; skip it instead

    def _unit(self, unit: str) -> Any:
        try:
            return self._units(unit)
        except ValueError:
            raise ValueError(f"unknown CloudWatch unit {unit!r}") from None

    def put_metric(
        self, name: str, value: float, unit: str = "Count", dimensions: dict[str, str] | None = None
    ) -> None:
        metric_unit = self._unit(unit)
        if not dimensions:
            self._metrics.add_metric(name=name, unit=metric_unit, value=float(value))
            self._pending += 1
            return
        with self._single_metric(
            name=name,
            unit=metric_unit,
            value=float(value),
            namespace=self._namespace,
            default_dimensions={"service": self._service, **dimensions},
        ):
            pass

    def flush(self) -> None:
        if self._pending:
            self._metrics.flush_metrics(raise_on_empty_metrics=False)
            self._pending = 0
