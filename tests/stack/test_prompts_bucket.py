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
    (index,) = resources(template_json, "Custom::PromptIndex").values()
    assert not resources(template_json, "Custom::AWS"), "one loader, not one resource per version"
    templates = discover_templates()
    assert templates, "pipeline/prompts/ holds templates"
    items = index["Properties"]["Items"]
    assert sorted(i["s3_key"]["S"] for i in items) == sorted(
        f"prompts/{t.template_id}/{t.version}.json" for t in templates
    )


def _policy_bytes_per_role(template_json: dict) -> dict[str, int]:
    """Size of the inline policies attached to each role (IAM's limit: 10,240 bytes in total)."""
    import json

    sizes: dict[str, int] = {}
    for resource in template_json["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for role in resource["Properties"].get("Roles", []):
            key = json.dumps(role, sort_keys=True)
            document = json.dumps(resource["Properties"]["PolicyDocument"], separators=(",", ":"))
            sizes[key] = sizes.get(key, 0) + len(document)
    return sizes


def _synth_prompt_storage(prompts_dir) -> dict:
    import json

    import aws_cdk as cdk

    from stack.config import StackConfig
    from stack.constructs.prompts_bucket import PromptStorage
    from stack.constructs.tables import Tables

    cdk_json = json.loads((c.REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    app = cdk.App(context=cdk_json["context"])  # the feature flags the real app runs with
    stack = cdk.Stack(app, "PromptsOnly")
    config = StackConfig()
    tables = Tables(stack, c.TABLES_ID, config=config)
    PromptStorage(stack, c.PROMPTS_ID, config=config, prompts_table=tables.prompts,
                  prompts_dir=prompts_dir)
    return app.synth().get_stack_by_name("PromptsOnly").template


def test_policy_size_does_not_grow_with_the_number_of_template_versions(tmp_path):
    """200 versions (one AwsCustomResource each used to add a policy to one shared role and
    hit IAM's 10,240-byte limit near 26): the policies stay the size they are with 2."""
    import json

    def write_versions(folder, count):
        body = json.loads((c.PROMPTS_DIR / "general" / "v1.json").read_text(encoding="utf-8"))
        for n in range(1, count + 1):
            (folder / "general").mkdir(parents=True, exist_ok=True)
            (folder / "general" / f"v{n}.json").write_text(
                json.dumps({**body, "version": f"v{n}"}), encoding="utf-8"
            )
        return folder

    few = _synth_prompt_storage(write_versions(tmp_path / "few", 2))
    many = _synth_prompt_storage(write_versions(tmp_path / "many", 200))
    assert _policy_bytes_per_role(many) == _policy_bytes_per_role(few)
    assert max(_policy_bytes_per_role(many).values()) < 10_240
    (index,) = [r for r in many["Resources"].values() if r["Type"] == "Custom::PromptIndex"]
    assert len(index["Properties"]["Items"]) == 200
