"""Schedule, observability and audit."""

from __future__ import annotations

import json

from stack import constants as c


def test_hourly_schedule_targets_analyze_feedback(resources, template_json):
    (rule,) = resources(template_json, "AWS::Events::Rule").values()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 hour)"
    assert "AnalyzeFeedbackFunction" in json.dumps(props["Targets"])


def test_alarms_go_to_an_encrypted_topic(resources, template_json):
    alarms = resources(template_json, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 9
    (topic_id, topic), = resources(template_json, "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    descriptions = " ".join(a["Properties"]["AlarmDescription"] for a in alarms.values())
    for needle in ("5xx", "p99", "Workflow executions failed", "Fallback", "Lambda errors",
                   "Lambda throttles", "quality", "CSAT", "Bedrock model cannot be invoked"):
        assert needle in descriptions, needle


def test_dashboard_covers_the_issue_list(resources, template_json):
    (dashboard,) = resources(template_json, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("API requests", "latency", "Workflow executions", "Guardrail blocks", "Intent distribution",
                   "Quality score", "CSAT", c.METRIC_GUARDRAIL_BLOCK, c.METRIC_INTENT, c.METRIC_QUALITY_SCORE,
                   c.METRIC_REGENERATIONS, c.METRIC_CSAT, "p99", "p50"):
        assert needle in body, needle


def test_task_failures_metric_filter(resources, template_json):
    (mf,) = resources(template_json, "AWS::Logs::MetricFilter").values()
    assert mf["Properties"]["MetricTransformations"][0]["MetricName"] == c.METRIC_TASK_FAILURES


def test_cloudtrail_data_events_for_functions_tables_and_prompt_bucket(resources, template_json):
    (trail,) = resources(template_json, "AWS::CloudTrail::Trail").values()
    props = trail["Properties"]
    assert props["EnableLogFileValidation"] is True
    selectors = {s["Name"]: json.dumps(s["FieldSelectors"]) for s in props["AdvancedEventSelectors"]}
    assert "Management" in selectors["Management events"]
    assert selectors["Assistant Lambda invocations"].count("Function") >= len(c.ALL_HANDLERS)
    assert all(f"Tables{t}" in selectors["Assistant DynamoDB tables"]
               for t in (c.CONVERSATIONS_TABLE_ID, c.PROMPTS_TABLE_ID, c.FEEDBACK_TABLE_ID))
    assert c.PROMPT_BUCKET_ID in selectors["Prompt bucket objects"]


def _business_metric_names(template_json) -> set[str]:
    """Metric names the dashboard and alarms read from the assistant's own namespace."""
    import re

    names: set[str] = set()
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            props = resource["Properties"]
            metrics = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
            names |= {m["MetricName"] for m in metrics if m.get("Namespace") == "SupportAssistant"}
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            # The body is a Fn::Join of escaped JSON: drop the escapes, then read the metrics.
            body = json.dumps(resource["Properties"]["DashboardBody"]).replace("\\", "")
            names |= set(re.findall(r'"SupportAssistant","(\w+)"', body))
            names |= set(re.findall(r'MetricName="(\w+)"', body))
    return names


def test_every_business_metric_watched_is_one_the_pipeline_emits(template_json):
    import importlib
    import pkgutil

    from pipeline.domain import budget, feedback, workflow

    # The workflow package loads its modules lazily: read every one of them.
    steps = [importlib.import_module(f"{workflow.__name__}.{info.name}") for info in pkgutil.iter_modules(workflow.__path__)]
    emitted = {value for module in (*steps, feedback, budget) for name, value in vars(module).items()
               if name.startswith("METRIC_") and isinstance(value, str)}
    watched = _business_metric_names(template_json)
    assert {"QualityScore", "CSAT", "GuardrailBlocks", "IntentDetected"} <= watched, watched
    assert watched - emitted <= {c.METRIC_TASK_FAILURES}, f"nobody publishes {watched - emitted - {c.METRIC_TASK_FAILURES}}"


def test_csat_alarm_uses_the_percentage_the_analysis_publishes(resources, template_json):
    (csat_alarm,) = [a["Properties"] for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
                     if a["Properties"].get("MetricName") == "CSAT"]
    assert csat_alarm["Threshold"] == c.CSAT_ALARM_PERCENT
    assert csat_alarm["ComparisonOperator"] == "LessThanThreshold"


def test_the_scheduled_payload_sets_the_window_the_handler_analyses(resources, template_json, monkeypatch):
    """The real scheduled input from the template, through the real handler: an hourly rule
    must analyse one hour (a 24-hour window counted each record 24 times)."""
    from pipeline.handlers import analyze_feedback, composition

    (rule,) = resources(template_json, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    event = json.loads(target["Input"])
    for name in ("CONVERSATIONS_TABLE", "STORE_BACKEND", "FEEDBACK_WINDOW_HOURS"):
        monkeypatch.delenv(name, raising=False)
    composition.reset()
    try:
        summary = analyze_feedback.handler(event, None)
    finally:
        composition.reset()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert summary["window"]["hours"] == c.ANALYZE_WINDOW_HOURS == 1


def test_dashboard_name_includes_the_region(resources, template_json):
    (dashboard,) = resources(template_json, "AWS::CloudWatch::Dashboard").values()
    assert {"Ref": "AWS::Region"} in dashboard["Properties"]["DashboardName"]["Fn::Join"][1]


def test_trail_uses_advanced_event_selectors_only(resources, template_json):
    """A trail takes EventSelectors or AdvancedEventSelectors, not both (CloudFormation)."""
    (trail,) = resources(template_json, "AWS::CloudTrail::Trail").values()
    assert "EventSelectors" not in trail["Properties"]
    assert trail["Properties"]["AdvancedEventSelectors"]


def test_state_machine_logs_under_vendedlogs(resources, template_json):
    (machine,) = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    destination = machine["Properties"]["LoggingConfiguration"]["Destinations"][0]
    group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = template_json["Resources"][group_id]["Properties"]["LogGroupName"]
    assert json.dumps(name).startswith(json.dumps(c.STATE_MACHINE_LOG_PREFIX)[:-1]) or (
        name["Fn::Join"][1][0].startswith(c.STATE_MACHINE_LOG_PREFIX)
    )
