from __future__ import annotations

from stack.checks import CFN_LINT_IGNORED, run_cfn_lint
from stack.nag import SUPPRESSIONS


def test_no_unsuppressed_cdk_nag_findings(synth):
    assert synth.nag_errors == []
    assert synth.nag_warnings == []


def test_every_suppression_has_a_specific_reason():
    for s in SUPPRESSIONS:
        assert s.rule.startswith("AwsSolutions-")
        assert len(s.reason) >= 60, s
    wildcard = [s for s in SUPPRESSIONS if s.rule == "AwsSolutions-IAM5"]
    assert all(s.applies_to for s in wildcard), "IAM5 suppressions must name the finding"


def test_cfn_lint_clean(synth):
    assert CFN_LINT_IGNORED == ("W3005",)
    code, output = run_cfn_lint(synth.template_path)
    assert code == 0, output


def test_api_auth_suppressions_do_not_call_the_api_key_authentication():
    """APIG4/COG4 reasons say what authorizes today: the API key meters, it does not
    authenticate; the server-issued session token owns a session."""
    from stack.nag import SUPPRESSIONS

    reasons = [s.reason for s in SUPPRESSIONS if s.rule in {"AwsSolutions-APIG4", "AwsSolutions-COG4"}]
    assert len(reasons) == 2
    for reason in reasons:
        assert "not authentication" in reason, reason
        assert "X-Session-Token" in reason, reason
        assert "protected by an API key" not in reason


def test_deploy_doc_lists_every_suppression_with_its_reason():
    from stack.constants import REPO_ROOT
    from stack.nag import SUPPRESSIONS

    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for suppression in SUPPRESSIONS:
        assert suppression.reason in doc, suppression.reason[:60]
