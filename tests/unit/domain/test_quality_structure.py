"""``structure``: tables that render, commands in code blocks, points as lists."""

from __future__ import annotations

from pipeline.domain.quality import parse_response
from pipeline.domain.quality.structure import check_structure


def _messages(response: str) -> tuple[str, ...]:
    return check_structure(response, parse_response(response)).messages


def test_table_without_delimiter_row_does_not_render():
    broken = "Compare:\n\n| Plan | Response |\n| Developer | 12 hours |\n| Business | 1 hour |\n"
    assert any("no |---| row" in m for m in _messages(broken))
    fine = "Compare:\n\n| Plan | Response |\n|---|---|\n| Developer | 12 hours |\n"
    assert _messages(fine) == ()


def test_command_with_options_in_plain_text_belongs_in_a_code_block():
    prose = "Then run aws ec2 get-password-data --instance-id i-0123 --priv-launch-key key.pem to decrypt it."
    assert any("put it in a code block" in m for m in _messages(prose))
    assert _messages("Then run `aws ec2 get-password-data --instance-id i-0123 --priv-launch-key key.pem`.") == ()
    assert _messages("Use aws s3 sync to copy the folder.") == ()


def test_bold_labelled_points_run_together_are_a_wall_of_text():
    points = " ".join(
        f"**Point {n}.** This sentence explains the point in enough words to matter for a reader who scans it."
        for n in range(1, 7)
    )
    assert any("run together" in m for m in _messages(points))
    short = "**On-demand** bills per request. **Provisioned** is cheaper for steady traffic."
    assert _messages(short) == ()


def test_a_delimiter_row_with_fewer_cells_than_the_header_does_not_render():
    text = ("Options:\n\n| Instance | vCPU | Memory | Notes\n|---|---|\n| t4g.medium | 2 | 4 GiB | cheapest |\n"
            "| m7g.large | 2 | 8 GiB | steady |\n")
    messages = check_structure(text, parse_response(text)).messages
    assert any("header has 4 columns but its |---| row has 2" in m for m in messages)


def test_a_table_with_matching_cells_escaped_pipes_and_ragged_body_rows_renders():
    text = ("Options:\n\n| Pattern | Meaning |\n| --- | --- |\n| `a\\|b` | either |\n| `*` | anything | extra |\n")
    messages = check_structure(text, parse_response(text)).messages
    assert not any("render" in m for m in messages)
