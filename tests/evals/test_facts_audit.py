"""``python -m evals.facts_audit``: per-rule flags on seen text only."""

from __future__ import annotations

from evals import facts_audit


def test_only_seen_quality_cases_are_read():
    splits = {case["split"] for case in facts_audit._seen("quality")}
    assert splits <= set(facts_audit.SEEN)
    assert splits  # the seen splits are not empty


def test_flagged_reads_prose_like_the_accuracy_check():
    text = "Lambda memory can be set from 64 MB to 10,240 MB.\n\n```bash\necho 'up to 15 layers per function'\n```\n"
    # code blocks are not prose; the documented-quantity table reads the same claim
    assert set(facts_audit.flagged(text)) == {"accuracy.fact.lambda_memory_min", "quantity.lambda.memory.min"}


def test_other_texts_cover_knowledge_conversations_and_guardrail_outputs():
    sources = {where.split("/", 1)[0] for where, _ in facts_audit.other_texts()}
    assert sources == {"knowledge", "conversations", "guardrails_output"}


def test_report_marks_new_rules(capsys):
    assert facts_audit.main(["--since", "HEAD", "--show", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{len(facts_audit._all_ids())} fact rules and quantities")
    assert "new rules flagging answers without an accuracy defect:" in out
