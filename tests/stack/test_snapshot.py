"""The normalised template equals the committed snapshot.

On a deliberate infrastructure change: ``python -m stack.snapshot --update`` and commit
the snapshot with the change, so reviewers see the diff.
"""

from __future__ import annotations

import json

from stack.snapshot import SNAPSHOT_PATH, diff, normalise


def test_template_matches_snapshot(template_json):
    assert SNAPSHOT_PATH.exists(), "no snapshot: run python -m stack.snapshot --update"
    expected = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    text = diff(expected, normalise(template_json))
    assert not text, f"template differs from the snapshot (python -m stack.snapshot --update):\n{text}"


def test_normalise_removes_volatile_values():
    template = {"Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": "a" * 64 + ".zip"}},
               "Metadata": {"aws:asset:path": "asset.x"}},
        "ApiRestApiDeploymentB3A0A3E1" + "0" * 32: {"Type": "AWS::ApiGateway::Deployment"},
    }}
    out = normalise(template)
    assert out["Resources"]["Fn"] == {"Type": "AWS::Lambda::Function",
                                      "Properties": {"Code": {"S3Key": "<hash>.zip"}}}
