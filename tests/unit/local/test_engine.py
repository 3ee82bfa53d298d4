"""The local engine's shared, once-paid parts: the FIFO handler lock and the parse cache."""

from __future__ import annotations

import json
import threading
import time

from pipeline.local import engine


def _wait_until(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_fifo_lock_is_granted_in_arrival_order() -> None:
    lock = engine.FifoLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for number in range(6):
        thread = threading.Thread(target=lambda n=number: (lock.acquire(), order.append(n), lock.release()))
        thread.start()
        _wait_until(lambda n=number: len(lock._waiters) == n + 1)  # queued behind the others
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))
    lock.acquire()  # free again
    lock.release()


def test_releasing_an_unlocked_fifo_lock_is_an_error() -> None:
    import pytest

    with pytest.raises(RuntimeError):
        engine.FifoLock().release()


def test_a_definition_is_parsed_once_and_every_component_has_its_heap_key() -> None:
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    definition = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "C"}],
              "Default": "C"},
        "C": {"Type": "Succeed"}}})
    first = engine.parsed_program(definition)
    assert engine.parsed_program(definition) is first
    components, pending, seen = [], [first], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):
            if isinstance(item, EvalComponent):
                components.append(item)
            pending.extend(vars(item).values())
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    assert len(components) > 5
    # assigned eagerly: the name-mangled attribute is set before any execution touched it
    assert all(c.__dict__.get("_EvalComponent__heap_key") for c in components)


def test_a_task_of_an_ended_execution_is_known_to_the_invoke_hook() -> None:
    class Env:
        def __init__(self, running: bool) -> None:
            self.running = running

        def is_running(self) -> bool:
            return self.running

    assert engine.execution_running()  # outside any task (feedback_api, tests)
    for running in (True, False):
        engine._TASK.env = Env(running)
        try:
            assert engine.execution_running() is running
        finally:
            engine._TASK.env = None
