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
    assert len(alarms) == 8
    (topic_id, topic), = resources(template_json, "AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    descriptions = " ".join(a["Properties"]["AlarmDescription"] for a in alarms.values())
    for needle in ("5xx", "p99", "Workflow executions failed", "Fallback", "Lambda errors",
                   "Lambda throttles", "quality", "CSAT"):
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
