"""What the leave-one-batch-out (LOBO) evaluations share: which batches a set holds, what a
fold holds out, their common options and the ``--json`` file.

A golden set's ``train`` split is a union of batches, one author each, named by the cases'
ids (``rt12-0042`` is batch ``rt12``). Each LOBO evaluation
(:mod:`evals.guardrail_heads_cv`, :mod:`evals.output_heads_cv`, :mod:`evals.intent_cv`,
:mod:`evals.escalation_cv`) holds out one train batch at a time, fits on the rest and scores
the held batch. What is fitted and scored per fold, how folds are run (in parallel, with a
fold log, with cached fold classifiers), what is pooled and how it is printed differ from
module to module and stay there; this module holds only what is the same in all of them.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from evals.datasets import GoldenCase

_SUFFIX_RE = re.compile(r"-?\d+$")


def batch_of(case_id: str) -> str:
    """The batch (author) of a case: its id without the trailing number (``rt12-0042`` ->
    ``rt12``, ``intent-v1-0868`` -> ``intent-v1``). The output set names its batches by the
    id's first part instead (:func:`evals.train_output_heads.batch_of`)."""
    return _SUFFIX_RE.sub("", case_id)


def is_held(case: GoldenCase, name: str, batch_of: Callable[[str], str] = batch_of) -> bool:
    """Whether the fold that holds out batch ``name`` holds out ``case`` (only train cases are
    ever held: dev calibrates and thresholds in every fold)."""
    return case.split == "train" and batch_of(case.id) == name


def held_batches(cases: Sequence[GoldenCase], batch_of: Callable[[str], str] = batch_of, *,
                 held: Callable[[GoldenCase], bool] = lambda case: True,
                 only: Collection[str] | None = None) -> list[str]:
    """The folds: the train batches of ``cases`` with a case ``held`` accepts, in name order;
    of those, only the ones in ``only`` when it is given (still in name order)."""
    names = sorted({batch_of(c.id) for c in cases if c.split == "train" and held(c)})
    return names if only is None else [name for name in names if name in only]


def split_fold(cases: Sequence[GoldenCase], name: str,
               batch_of: Callable[[str], str] = batch_of) -> tuple[list[GoldenCase], list[GoldenCase]]:
    """``(rest, held)`` for the fold holding out batch ``name``: every other case (dev
    included) and the batch's train cases, each in the set's order."""
    rest, held = [], []
    for case in cases:
        (held if is_held(case, name, batch_of) else rest).append(case)
    return rest, held


def add_batch_option(parser: argparse.ArgumentParser) -> None:
    """``--batch NAME`` (repeatable): hold out only these batches."""
    parser.add_argument("--batch", action="append", help="hold out only these batches")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json PATH``: where :func:`write_json` writes the full result."""
    parser.add_argument("--json", default=None, help="write the full result here")


def write_json(path: str | Path | None, result: Any) -> None:
    """The full result as indented JSON at ``path`` (``--json``); nothing when no path is given."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
