"""InMemoryMetrics: a MetricsSink that keeps what it was given, for tests and local runs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One metric value as emitted."""

    name: str
    value: float
    unit: str = "Count"
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass
class InMemoryMetrics:
    """Collects metric points; ``flush`` moves pending points to ``flushed``.

    Example:
        >>> sink = InMemoryMetrics()
        >>> sink.put_metric("Queries", 1, dimensions={"response_type": "answer"})
        >>> sink.total("Queries")
        1.0
    """

    pending: list[MetricPoint] = field(default_factory=list)
    flushed: list[MetricPoint] = field(default_factory=list)

    def put_metric(
        self, name: str, value: float, unit: str = "Count", dimensions: dict[str, str] | None = None
    ) -> None:
        self.pending.append(
            MetricPoint(name, float(value), unit, tuple(sorted((dimensions or {}).items())))
        )

    def flush(self) -> None:
        self.flushed.extend(self.pending)
        self.pending.clear()

    @property
    def points(self) -> list[MetricPoint]:
        """Every point, flushed or not."""
        return [*self.flushed, *self.pending]

    def total(self, name: str, **dimensions: str) -> float:
        """Sum of the values of ``name`` whose dimensions include ``dimensions``."""
        wanted = set(dimensions.items())
        return sum(p.value for p in self.points if p.name == name and wanted <= set(p.dimensions))
