"""Default code-block syntax checkers (bash -n with a pure pre-check, YAML, JSON)."""

from __future__ import annotations

import pytest

from pipeline.adapters.local import code_checks
from pipeline.adapters.local.code_checks import check_json, check_shell, check_yaml, precheck_shell


@pytest.mark.parametrize(
    "script",
    [
        "aws s3 ls s3://my-bucket --recursive",
        "aws ec2 describe-instances \\\n  --region us-east-1 \\\n  --output table",
        "for f in *.zip; do\n  aws s3 cp \"$f\" s3://bucket/\ndone",
        "if [ -z \"$AWS_PROFILE\" ]; then\n  export AWS_PROFILE=dev\nfi",
        "ID=$(aws sts get-caller-identity --query Account --output text)\necho $ID",
        "cat <<EOF > policy.json\n{\"Version\": \"2012-10-17\"}\nEOF",
        "# just a comment",
    ],
)
def test_valid_shell(script):
    assert check_shell(script) is None


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ('echo "unterminated', "double quote"),
        ("echo 'unterminated", "single quote"),
        ("ls -la |", "dangling operator"),
        ("if [ -f x ]; then\n  echo hi\n", "end of file"),
        ("for i in 1 2; do echo $i", "end of file"),
        ("echo $(date", "matching"),
        ("| grep x", "starts with an operator"),
    ],
)
def test_invalid_shell(script, fragment):
    error = check_shell(script)
    assert error is not None and fragment in error


def test_simple_scripts_skip_the_subprocess(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("bash -n should not run for a simple script")

    monkeypatch.setattr(code_checks.subprocess, "run", boom)
    assert precheck_shell("aws s3 ls --recursive") == (None, False)
    assert check_shell("aws s3 cp a.txt s3://b/unique-key-1") is None


def test_without_bash_the_precheck_decides(monkeypatch):
    monkeypatch.setattr(code_checks, "_bash_path", lambda: None)
    check_shell.cache_clear()
    try:
        assert check_shell("if true; then echo unique-2; fi") is None
        assert check_shell('echo "x unique-3') is not None
    finally:
        check_shell.cache_clear()


def test_yaml_with_cloudformation_tags():
    template = (
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        "      BucketName: !Sub '${AWS::StackName}-data'\n      Tags:\n        - Key: env\n          Value: !Ref Env\n"
    )
    assert check_yaml(template) is None


@pytest.mark.parametrize("text", ["a: [1, 2", "key: value\n  bad: indent", "a:\n\tb: 1"])
def test_invalid_yaml(text):
    assert check_yaml(text).startswith("invalid YAML")


def test_yaml_degrades_without_pyyaml(monkeypatch):
    monkeypatch.setattr(code_checks, "_yaml_loader", None)
    monkeypatch.setattr(code_checks, "_yaml_unavailable", True)
    check_yaml.cache_clear()
    try:
        assert check_yaml("a: [1, 2 unique") is None  # structural fallback cannot see it
        assert check_yaml("a:\n\tb: unique").startswith("invalid YAML: tab")
    finally:
        check_yaml.cache_clear()


def test_json():
    assert check_json('{"Version": "2012-10-17"}') is None
    assert "line 1" in check_json('{"a": 1,}')


def test_a_quoted_argument_may_span_lines():
    from pipeline.adapters.local.code_checks import check_shell

    script = "aws application-autoscaling put-scaling-policy \\\n  --policy-name p \\\n  --config '{\n    \"TargetValue\": 60.0\n  }'\n"
    assert check_shell(script) is None
    assert check_shell("echo 'never closed\necho next\n") is not None
