"""``nox -s load`` / ``python -m pipeline.local.load``: load-test the local server, then
check the store.

Starts the local server in-process on an ephemeral loopback port (nothing else is ever
contacted) and runs the clients in a second process (so that they do not share the server's
interpreter lock, as real clients would not). It ramps from 1 to ``--clients`` concurrent clients over the first quarter of the
run, and sends ``--requests`` requests built from golden intent queries of the train/dev
splits (never the blind split): a new session, then follow-ups on it with its token, and a
rating for every fourth answer. A 429/503 answer with ``Retry-After`` (the server's
backpressure) is waited out and retried with the same Idempotency-Key, at most
:data:`MAX_RETRIES` times; its latency includes the wait, and the retries are reported.
Bounded in count and time (``--max-seconds``), with a
progress bar on stderr. Afterwards every acknowledged turn and feedback record is looked
up in the Conversations and Feedback tables: lost or doubled writes are counted.

Prints throughput, latency p50/p95/p99 per route and errors; exits 0 when there were no
errors and no lost or doubled writes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = REPO_ROOT / "golden_sets" / "intent.jsonl"
SEEN_SPLITS = ("train", "dev")


def golden_queries(limit: int = 500) -> list[str]:
    """Queries of the seen splits only (the blind split is never read for anything)."""
    found = []
    with GOLDEN.open(encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            if case.get("split") in SEEN_SPLITS and isinstance(case.get("input"), str):
                text = case["input"].strip()
                if 1 <= len(text) <= 4000:
                    found.append(text)
            if len(found) >= limit:
                break
    return found


@dataclass
class Results:
    """What the clients saw (plain values: it travels back from the clients' process)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"query": [], "feedback": []})
    errors: Counter[str] = field(default_factory=Counter)
    #: 429/503 answers with Retry-After that the client waited out and retried (the same
    #: Idempotency-Key); the request's latency includes the wait. Not errors: backpressure.
    retried: Counter[str] = field(default_factory=Counter)
    turns: list[tuple[str, str]] = field(default_factory=list)  # (session_id, interaction_id)
    feedback: list[str] = field(default_factory=list)
    done: int = 0

#: Retries of one request after 429/503 + Retry-After before it counts as an error.
MAX_RETRIES = 5


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _progress(done: int, total: int, start: float, stream: Any) -> None:
    """Redraw the bar in place on a terminal; elsewhere (CI logs, files) one line per tenth."""
    width = 30
    filled = int(width * done / max(1, total))
    rate = done / max(1e-9, time.monotonic() - start)
    bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:5.1f} req/s"
    if getattr(stream, "isatty", lambda: False)():
        stream.write("\r" + bar)
    elif done == total or done % max(1, total // 10) == 0:
        stream.write(bar + "\n")
    else:
        return
    stream.flush()


def _post(http: Any, path: str, body: dict[str, Any], headers: dict[str, str], results: Results,
          lock: threading.Lock) -> Any:
    """POST, waiting out and retrying 429/503 answers that carry Retry-After (bounded)."""
    for _ in range(MAX_RETRIES):
        reply = http.post(path, json=body, headers=headers)
        delay = reply.headers.get("retry-after", "")
        if reply.status_code not in (429, 503) or not delay.isdigit():
            return reply
        with lock:
            results.retried[f"{path.strip('/')} {reply.status_code}"] += 1
        time.sleep(min(int(delay), 10))
    return reply


def run_load(url: str, requests: int, clients: int, max_seconds: float, queries: Sequence[str],
             stream: Any = sys.stderr) -> tuple[Results, float]:
    import httpx

    results = Results()
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    start = time.monotonic()
    ramp = max(1, requests // 4)
    next_index = iter(range(requests))
    index_lock = threading.Lock()
    admitted = {"clients": 1}

    def take() -> int | None:
        with index_lock:
            return next(next_index, None)

    def client_loop(client_number: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            session: tuple[str, str] | None = None
            while time.monotonic() < deadline:
                with index_lock:
                    allowed = client_number < admitted["clients"]
                if not allowed:
                    time.sleep(0.01)
                    continue
                i = take()
                if i is None:
                    return
                with index_lock:  # ramp: one more client every ramp/clients requests
                    admitted["clients"] = min(clients, 1 + (i * clients) // ramp)
                query = queries[i % len(queries)]
                body: dict[str, Any] = {"query": query}
                headers = {"Idempotency-Key": f"load-{i:08d}-request"}
                if session is not None and i % 5:
                    body["session_id"] = session[0]
                    headers["X-Session-Token"] = session[1]
                t0 = time.perf_counter()
                try:
                    reply = _post(http, "/query", body, headers, results, lock)
                except httpx.HTTPError as error:
                    with lock:
                        results.errors[f"query {type(error).__name__}"] += 1
                    continue
                elapsed = time.perf_counter() - t0
                with lock:
                    results.latencies["query"].append(elapsed)
                    if reply.status_code != 200:
                        results.errors[f"query {reply.status_code}"] += 1
                        continue
                    answer = reply.json()
                    results.turns.append((answer["session_id"], answer["interaction_id"]))
                session = (answer["session_id"], answer["session_token"])
                if i % 4 == 0:
                    feedback_id = f"load-fb-{i:08d}"
                    t0 = time.perf_counter()
                    reply = _post(http, "/feedback", {
                        "session_id": answer["session_id"], "interaction_id": answer["interaction_id"],
                        "rating": 1 + i % 5, "feedback_id": feedback_id},
                        {"X-Session-Token": session[1]}, results, lock)
                    with lock:
                        results.latencies["feedback"].append(time.perf_counter() - t0)
                        if reply.status_code == 201:
                            results.feedback.append(feedback_id)
                        else:
                            results.errors[f"feedback {reply.status_code}"] += 1
                with lock:
                    results.done += 1
                    _progress(results.done, requests, start, stream)

    with ThreadPoolExecutor(clients) as pool:
        for number in range(clients):
            pool.submit(client_loop, number)
    stream.write("\n")
    return results, time.monotonic() - start


def run_clients_in_subprocess(url: str, requests: int, clients: int, max_seconds: float,
                              queries: Sequence[str]) -> tuple[Results, float]:
    """:func:`run_load` in a separate process: the clients' own Python work (HTTP, JSON)
    then does not compete with the server's for one interpreter lock, as real clients would
    not. Progress goes to this process's stderr (inherited)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_load, url, requests, clients, max_seconds, list(queries)).result()


def verify(api: Any, results: Results) -> dict[str, int]:
    """Every acknowledged turn and feedback is stored exactly once."""
    turns = api.workflow.scan("ConversationsTable")
    stored = Counter((t["session_id"], t["interaction_id"]) for t in turns)
    finished = {(t["session_id"], t["interaction_id"]) for t in turns if t.get("assistant_text")}
    feedback = Counter(f["feedback_id"] for f in api.workflow.scan("FeedbackTable"))
    return {
        "acknowledged_turns": len(results.turns),
        "lost_turns": sum(1 for key in results.turns if stored[key] == 0),
        "doubled_turns": sum(1 for key in set(results.turns) if stored[key] > 1),
        "unfinished_turns": sum(1 for key in results.turns if key not in finished),
        "acknowledged_feedback": len(results.feedback),
        "lost_feedback": sum(1 for f in results.feedback if feedback[f] == 0),
        "doubled_feedback": sum(1 for f in results.feedback if feedback[f] > 1),
    }


def failures(results: Results, checks: dict[str, int]) -> int:
    """Errors plus lost, doubled or unfinished writes: 0 means the run met its checks."""
    return sum(results.errors.values()) + sum(v for k, v in checks.items() if not k.startswith("acknowledged"))


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.local.api_runtime import DEFAULT_MAX_IN_FLIGHT

    parser = argparse.ArgumentParser(prog="python -m pipeline.local.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop sending after this [900]")
    parser.add_argument("--max-in-flight", type=int, default=DEFAULT_MAX_IN_FLIGHT,
                        help=f"executions the server runs at once [{DEFAULT_MAX_IN_FLIGHT}]")
    parser.add_argument("--in-process-clients", action="store_true",
                        help="run the clients in the server's process (they then share its GIL)")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 100_000 and 1 <= args.clients <= 256 and 1 <= args.max_in_flight <= 256):
        parser.error("--requests must be 1..100000, --clients and --max-in-flight 1..256")

    from pipeline.local.api_runtime import LocalApi
    from pipeline.local.server import create_app, start_in_thread

    holder: dict[str, LocalApi] = {}

    def factory() -> LocalApi:
        holder["api"] = LocalApi(key_file=REPO_ROOT / ".cache" / "load-session.key",
                                 max_in_flight=args.max_in_flight)
        return holder["api"]

    server, thread, url = start_in_thread(create_app(factory, freeze_startup_heap=True))  # loopback, ephemeral port
    try:
        run = run_load if args.in_process_clients else run_clients_in_subprocess
        cpu_start = time.process_time()
        results, seconds = run(url, args.requests, args.clients, args.max_seconds, golden_queries())
        server_cpu = time.process_time() - cpu_start  # this process: the server (and clients if in-process)
        checks = verify(holder["api"], results)
    finally:
        server.should_exit = True
        thread.join(60)
    total = sum(len(v) for v in results.latencies.values())
    print(f"requests: {total} in {seconds:.1f} s = {total / seconds:.1f} req/s "
          f"({args.clients} clients max, offline model, local engine)")
    print(f"server process CPU: {server_cpu:.1f} s = {server_cpu / max(1, total) * 1000:.1f} ms per request "
          f"({server_cpu / seconds:.2f} cores; executions at once <= {args.max_in_flight}; "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"{'route':10} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for route, values in results.latencies.items():
        if values:
            print(f"{route:10} {len(values):6d} {_percentile(values, .5) * 1000:8.0f} "
                  f"{_percentile(values, .95) * 1000:8.0f} {_percentile(values, .99) * 1000:8.0f} "
                  f"{statistics.fmean(values) * 1000:8.0f}")
    print(f"errors: {sum(results.errors.values())} {dict(results.errors) or ''}")
    print(f"retried after Retry-After (backpressure, latency includes the wait): "
          f"{sum(results.retried.values())} {dict(results.retried) or ''}")
    failed = holder["api"].workflow.handler_errors
    print(f"failed handler invocations (retried or answered by Fallback): {sum(failed.values())} "
          f"{ {f'{h}:{e}': n for (h, e), n in failed.items()} or ''}")
    print("store: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    return 0 if failures(results, checks) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
