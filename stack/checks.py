"""``python -m stack.checks [--outdir cdk.out]``: synthesize, lint, and report cdk-nag.

Steps: synthesize with cdk-nag's AwsSolutionsChecks (errors and warnings come back as
annotations), run cfn-lint on the template ignoring only W3005 (a warning CDK itself
produces for explicit DependsOn), and print one summary. Exit status is non-zero when
cdk-nag reports an unsuppressed error or cfn-lint reports anything.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from stack import constants as c

#: The only cfn-lint rule ignored (DESIGN.md §2): CDK emits redundant DependsOn.
CFN_LINT_IGNORED = ("W3005",)


def run_cfn_lint(template: Path) -> tuple[int, str]:
    """Run cfn-lint in a subprocess (its own exit codes: 0 clean, 2/4/6/8… findings)."""
    cmd = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--ignore-checks", *CFN_LINT_IGNORED, "--", str(template)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=str(c.DEFAULT_OUTDIR), help="cloud assembly directory [cdk.out]")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="CDK context value (repeatable), e.g. -c stage=prod")
    args = parser.parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)

    from stack.app import synthesize

    result = synthesize(args.outdir, context or None, nag=True)
    print(f"synth: {result.stack_name} -> {result.template_path} in {result.seconds:.1f} s")
    problems = 0

    for warning in result.nag_warnings:
        print(f"cdk-nag warning: {warning}")
    for error in result.nag_errors:
        print(f"cdk-nag ERROR: {error}")
    problems += len(result.nag_errors)
    print(f"cdk-nag: {len(result.nag_errors)} error(s), {len(result.nag_warnings)} warning(s)")

    code, output = run_cfn_lint(result.template_path)
    if code != 0:
        print(output)
        problems += 1
    print(f"cfn-lint (ignoring {', '.join(CFN_LINT_IGNORED)}): {'clean' if code == 0 else f'exit {code}'}")
    print("OK" if problems == 0 else "FAILED")
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
