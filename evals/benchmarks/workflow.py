"""Workflow benchmarks: synth time and the local workflow's per-query time.

* ``synth``: one full synthesis (cdk-nag included) into a temporary folder. Target < 20 s.
* ``local workflow p50/p99``: ~30 queries (answers, a blocked secret, clarifications,
  escalations; several turns per session) through the synthesized state machine on moto
  with the real handlers (``pipeline.local.workflow``), after two warm-up queries. Each
  query's wall time is split into handler time and engine overhead (moto's interpreter,
  fake AWS calls, polling). Target: p50 < 150 ms per query.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from evals.benchmarks import BenchResult, percentile

QUERIES: tuple[str, ...] = (
    "Why does my EC2 instance refuse SSH connections?",
    "It times out after 30 seconds.",
    "How do I fix AccessDenied when reading objects from my S3 bucket?",
    "The bucket policy looks fine to me.",
    "My Lambda function times out when it calls RDS",
    "How do I raise the Lambda timeout?",
    "How do I enable MFA for the root user?",
    "How do I rotate IAM access keys safely?",
    "Why is my AWS bill higher this month?",
    "How do I set up a budget alert?",
    "My RDS instance is running out of storage",
    "How do I enable storage autoscaling?",
    "help",
    "it doesn't work",
    "I want to speak to a human agent now",
    "here is my password: Hunter2Secret! can you log in to my account",
    "How do I connect two VPCs?",
    "Does VPC peering support transitive routing?",
    "How do I close my AWS account?",
    "Which support plan includes a TAM?",
    "My CloudFormation stack is stuck in UPDATE_ROLLBACK_FAILED",
    "How do I see CloudWatch logs for my Lambda function?",
    "My ECS tasks keep stopping with exit code 137",
    "How do I make an S3 object public for a website?",
    "SQS messages are processed twice",
    "How do I change the instance type of an EC2 instance?",
    "My Lambda fails with Runtime.ImportModuleError",
    "How do I restore an RDS snapshot?",
    "What is the difference between a NAT gateway and an internet gateway?",
    "Can you write me a poem about the weather?",
)
WARMUP = 2
TARGET_SYNTH_S = 20.0
TARGET_P50_MS = 150.0


def bench_synth() -> BenchResult:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from stack.app import synthesize

    with tempfile.TemporaryDirectory(prefix="bench-cdk-") as tmp:
        result = synthesize(Path(tmp), nag=True)
    return BenchResult(
        area="workflow", name="CDK synth (cdk-nag included)", value=round(result.seconds, 2), unit="s",
        target=f"< {TARGET_SYNTH_S:g}", meets_target=result.seconds < TARGET_SYNTH_S,
        detail=f"{result.stack_name}; {len(result.nag_errors)} nag errors",
    )


def bench_local_workflow(queries: tuple[str, ...] = QUERIES) -> list[BenchResult]:
    from pipeline.local.workflow import LocalWorkflow

    totals, handlers, engines = [], [], []
    with LocalWorkflow() as workflow:
        for i in range(WARMUP):
            workflow.run(queries[i], session_id=f"bench-warmup-{i:04d}")
        for i, query in enumerate(queries):
            run = workflow.run(query, session_id=f"bench-session-{i // 3:04d}")
            totals.append(run.total_seconds * 1000)
            handlers.append(run.handler_seconds * 1000)
            engines.append(run.engine_seconds * 1000)
    n = len(totals)
    p50 = percentile(totals, 50)
    return [
        BenchResult("workflow", "local workflow per query p50", round(p50, 1), "ms",
                    target=f"< {TARGET_P50_MS:g}", meets_target=p50 < TARGET_P50_MS,
                    detail=f"n={n}; handlers p50 {percentile(handlers, 50):.1f} ms, "
                           f"engine p50 {percentile(engines, 50):.1f} ms"),
        BenchResult("workflow", "local workflow per query p99", round(percentile(totals, 99), 1), "ms",
                    detail=f"handlers p99 {percentile(handlers, 99):.1f} ms, "
                           f"engine p99 {percentile(engines, 99):.1f} ms"),
        BenchResult("workflow", "local workflow engine overhead p50", round(percentile(engines, 50), 1), "ms",
                    detail="moto Step Functions interpreter + fake AWS API calls + polling"),
        BenchResult("workflow", "local workflow handler time p50", round(percentile(handlers, 50), 1), "ms",
                    detail="real handlers in-process (offline model and NLP, DynamoDB/S3 on moto)"),
    ]


def run() -> list[BenchResult]:
    return [bench_synth(), *bench_local_workflow()]


if __name__ == "__main__":
    for result in run():
        print(result)
