from __future__ import annotations

from stack import constants as c
from stack.constructs.prompts_bucket import discover_templates


def _prompt_bucket(template_json, resources):
    found = [r["Properties"] for k, r in resources(template_json, "AWS::S3::Bucket").items()
             if k.startswith(f"{c.PROMPTS_ID}{c.PROMPT_BUCKET_ID}")]
    assert len(found) == 1
    return found[0]


def test_every_bucket_encrypted_private_and_ssl_only(template_json, resources):
    buckets = resources(template_json, "AWS::S3::Bucket")
    assert len(buckets) == 3  # prompts, access logs, trail
    for props in (b["Properties"] for b in buckets.values()):
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }
    policies = resources(template_json, "AWS::S3::BucketPolicy")
    ssl_denies = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert len(ssl_denies) == 3


def test_prompt_bucket_versioned_logged_and_archived(template_json, resources):
    props = _prompt_bucket(template_json, resources)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "prompt-bucket/"
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["NoncurrentVersionTransitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]


def test_prompts_deployed_and_indexed(template_json, resources):
    deployments = resources(template_json, "Custom::CDKBucketDeployment")
    assert len(deployments) == 1
    props = next(iter(deployments.values()))["Properties"]
    assert props["DestinationBucketKeyPrefix"] == "prompts/"
    index = resources(template_json, "Custom::AWS")
    templates = discover_templates()
    assert templates, "pipeline/prompts/ holds templates"
    assert len(index) == len(templates)
    created = " ".join(str(r["Properties"]["Create"]) for r in index.values())
    for t in templates:
        assert f'prompts/{t.template_id}/{t.version}.json' in created
