"""The project's menu: `nox -l` lists every session with its docstring.

The two commands that matter most:

* ``nox -s eval``: run the evaluation suites on the offline model, compare with the
  committed baselines, write the HTML report; exit 1 when a gate fails.
* ``nox -s tests``: the test suite CI runs.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["eval", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Bytecode compiled at install time makes the first import of boto3/moto/CDK cheaper.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
# jsii (the CDK's Node bridge) warns on every start under Node 20; the warning is noise.
CDK_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def install(session: nox.Session, *groups: str) -> None:
    """Install the project (editable) and the given dependency groups."""
    # The first run creates the environment (CDK, moto, scipy…: a few minutes, mostly
    # downloads); say so instead of sitting silent. Re-runs reuse it in seconds.
    session.log(
        f"installing the project with groups {', '.join(groups)} "
        "(first run: a few minutes of downloads; later runs reuse the environment)"
    )
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (unit, functional, stack, e2e, evals); args go to pytest."""
    install(session, "test", "stack", "evals", "browser", "train", "serve")
    args = session.posargs or ["-n", "2", "--dist", "loadgroup"]
    session.run("pytest", *args, env=CDK_ENV)


@nox.session
def equivalence(session: nox.Session) -> None:
    """Compare the guardrails' fast, whole-text and pure-Python paths on every golden text.

    ~25 CPU-minutes, so a CI step of its own; ``nox -s tests`` checks a fixed tenth of the texts.
    """
    install(session, "test", "evals")
    args = session.posargs or ["-n", "2", "-q", "-p", "no:cacheprovider"]
    session.run("pytest", *args, "tests/unit/domain/test_guardrails_fastpath.py",
                env={**CDK_ENV, "GUARDRAILS_EQUIVALENCE": "full"})


@nox.session
def eval(session: nox.Session) -> None:  # noqa: A001 - the session's public name
    """Run the evaluation suites and write reports/out/latest/index.html (see --help)."""
    install(session, "evals", "test", "stack")
    session.run("python", "-m", "evals", *session.posargs, env=CDK_ENV)


@nox.session
def ab(session: nox.Session) -> None:
    """Offline prompt A/B on the generation suite; args go to ``python -m evals ab``.

    ``nox -s ab -- --template compute_troubleshooting --a v1 --b v2``, ``-- --all`` (every
    template with two or more versions, candidates in evals/prompt_variants included) or
    ``-- --a-dir DIR --b-dir DIR``. Prints the verdict (B better, B worse, or no detectable
    difference with the smallest detectable effect) with its statistics, writes both run
    records and an HTML page under reports/out/, and exits 1 when B is worse. CI also runs the
    degraded-prompt canary (``--variants-dir evals/ab_canaries --expect-worse``: exit 1 when the
    A/B does not call it B worse).
    """
    install(session, "evals", "test", "stack")
    session.run("python", "-m", "evals", "ab", *(session.posargs or ["--all"]), env=CDK_ENV)


@nox.session
def synth(session: nox.Session) -> None:
    """Synthesize the CDK stack into cdk.out/ and check it with cfn-lint and cdk-nag."""
    install(session, "stack")
    session.run("python", "-m", "stack.checks", *session.posargs, env=CDK_ENV)


@nox.session
def snapshot(session: nox.Session) -> None:
    """Deliberately update the committed CloudFormation template snapshot."""
    install(session, "stack", "test")
    session.run("python", "-m", "stack.snapshot", "--update", env=CDK_ENV)


@nox.session
def ask(session: nox.Session) -> None:
    """Ask the locally running workflow one question: nox -s ask -- "my query"."""
    install(session, "test", "stack")
    session.run("python", "-m", "pipeline", "ask", *session.posargs, env=CDK_ENV)


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the REST API locally on 127.0.0.1:8000 (api/openapi.yaml; docs at /docs).

    The synthesized workflow runs on the local engine with the real handlers; JSON access
    logs on stderr; Ctrl-C finishes in-flight requests. Pass options after ``--``, e.g.
    ``nox -s serve -- --port 9000``.
    """
    install(session, "test", "stack", "serve")
    session.run("python", "-m", "pipeline", "serve", *session.posargs, env=CDK_ENV)


@nox.session
def load(session: nox.Session) -> None:
    """Load-test the local server on loopback: ramp to 32 clients, 2,000 golden queries.

    Prints throughput, p50/p95/p99 and errors, then checks that every acknowledged turn and
    feedback is stored exactly once (exit 1 otherwise). Options after ``--``, e.g.
    ``nox -s load -- --requests 200 --clients 8``.
    """
    install(session, "test", "stack", "serve")
    session.run("python", "-m", "pipeline.local.load", *session.posargs, env=CDK_ENV)


@nox.session
def train(session: nox.Session) -> None:
    """Retrain the intent classifier (with its escalate head), the input guardrail's learned
    refusal heads and the output guardrail's learned policy heads from the golden sets' train
    splits (and golden_sets/training/), calibrated and thresholded on dev / out of fold."""
    install(session, "train", "evals")
    session.run("python", "-m", "evals.train_intent", *session.posargs)
    session.run("python", "-m", "evals.train_guardrail_heads")
    session.run("python", "-m", "evals.train_output_heads")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print one table with machine info and targets."""
    install(session, "test", "stack", "evals", "bench")
    session.run("python", "-m", "evals.benchmarks", *session.posargs, env=CDK_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks: ruff (lint + import order)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "pipeline", "evals", "stack", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the runtime code (pipeline/) with mypy."""
    install(session, "test")
    session.install("mypy>=1.11")
    session.run("mypy", "pipeline", "--ignore-missing-imports")
