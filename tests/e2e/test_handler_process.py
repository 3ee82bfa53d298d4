"""The handlers in a second process (``LocalWorkflow(handler_process=True)``, the load
test's ``--handler-process``): the same executions, answers, stored records, errors and
retries as with the handlers in the engine's process."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.local.workflow import Faults, LocalWorkflow, LocalWorkflowError

pytestmark = pytest.mark.xdist_group("local_server")

CONVERSATION = (
    "My EC2 instance refuses SSH connections, it times out.",
    "and what about the security group?",
    "How do I make an S3 bucket private?",
)


def _answers(workflow: LocalWorkflow) -> list[tuple[Any, ...]]:
    session = "e2e-sandbox-0001"
    runs = [workflow.run(query, session_id=session) for query in CONVERSATION]
    turns = sorted(workflow.scan("ConversationsTable"), key=lambda t: t["turn_index"])
    return [
        (run.status, run.path, run.output["response_type"], run.output["intent"], run.output["response"],
         int(turn["turn_index"]), turn["assistant_text"])
        for run, turn in zip(runs, turns, strict=True)
    ]


def test_the_same_answers_and_records_as_in_one_process(stack_template: Any) -> None:
    with LocalWorkflow(stack_template) as one:
        expected = _answers(one)
    with LocalWorkflow(stack_template, handler_process=True) as two:
        assert _answers(two) == expected
        assert len(two.scan("FeedbackTable")) == len(CONVERSATION)  # implicit feedback
        assert two.handler_process_cpu_seconds() > 0


def test_errors_and_retries_cross_the_process_boundary(stack_template: Any) -> None:
    faults = Faults().fail_once("generate_response")
    with LocalWorkflow(stack_template, faults=faults, handler_process=True) as workflow:
        run = workflow.run("Why does my EC2 instance refuse SSH connections?", session_id="e2e-sandbox-0002")
        assert run.status == "SUCCEEDED" and run.output["response_type"] == "answer"
        generations = [call.error for call in run.calls if call.handler == "generate_response"]
        assert generations == ["Lambda.TooManyRequestsException", None]  # retried by the state machine
        # A handler that raises in the other process: its error name reaches the caller.
        with pytest.raises(LocalWorkflowError, match="WorkflowInputError"):
            workflow.invoke_function("detect_intent", {"capture": "not an object"})
        assert workflow.handler_errors[("detect_intent", "WorkflowInputError")] == 1
        # The engine's own calls to the data services run there too, errors included.
        with pytest.raises(ClientError) as raised:
            workflow.client("dynamodb").describe_table(TableName="no-such-table")
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_objects_of_this_process_cannot_be_replaced_in_the_other(stack_template: Any) -> None:
    with pytest.raises(LocalWorkflowError, match="handler_process"):
        LocalWorkflow(stack_template, model=object(), handler_process=True)
