"""Benchmark: the guardrails on adversarial inputs (worst case, not the average).

Generators build texts of up to 100 KB that made the regex-per-rule guardrail of v1
quadratic: long runs of every ASCII punctuation character (alone and followed by a
keyword such as ``BEGIN``), repeated prefixes (``mysql ``, ``password: ``, ``AKIA``,
``secret=``, ``ignore ``, ``when will ``, ``eyJ``, ``://``), nested brackets and
``{{``, alternating letter/separator runs, digit runs and base64 runs. Each text is
scanned once by ``scan_input`` and once by ``scan_output``; the table reports the worst
time per KB and the worst time on any 100 KB text.

Targets (issue 7): no input up to 100 KB over 50 ms in ``scan_input`` and 250 ms in
``scan_output`` on this machine (the table's header records the machine and its load).

Before timing, every generator's text is scanned once at 1 KB in both directions: that
loads the learned heads and compiles the RE2 sets each rule builds on first use, a one-off
cost of the process (measured by the cold-start benchmarks), not of an input.
"""

from __future__ import annotations

import string
import time
from collections.abc import Iterator

from evals.benchmarks import BenchResult
from pipeline.domain.guardrails import SCANNER, scan_input, scan_output

AREA = "guardrails"
SIZE = 100_000
WARM_UP_SIZE = 1_000
INPUT_TARGET_MS = 50.0
OUTPUT_TARGET_MS = 250.0

PREFIXES = ("mysql ", "password: ", "AKIA", "secret=", "ignore ", "when will ", "eyJ", "a://", "@a",
            "token: ", "--password ", "-u ", "<password>", "BEGIN PRIVATE KEY ", "you are now ",
            "Bearer ", "AccountKey=", "contraseña: ", "1111 ", "+1 ", "ssn ", "roadmap ",
            # the secret rules of h-secrets10: table columns, cookies, tool flags, PSKs, prefixed
            # and ECR tokens, #define and name='…' value='…' pairs, PEM lines behind log prefixes
            "| password |\n", "|pw", "Cookie: session=", "ssh-keygen -N ", "mosquitto_pub \\\n",
            "PSK ", "zt_live_", "#define PASS ", "name='pass' value=", "eyJwYXlsb2FkIjo",
            "-----BEGIN RSA PRIVATE KEY-----\nDEBUG: ",
            # the secret rules of h-secrets11: delimited password columns, table rows, other
            # languages' key names, Authorization schemes, SigV4 headers, SASL PLAIN, Redis
            # AUTH, credential constructors, Go DSNs, query keys, user:password lines
            "name,url,username,password\n", "a,b,c,Pw1!xyzq\n", "| password | ", "motdepasse=", "пароль=",
            "Key Content : ", "APIキー: ", "Authorization: Token ", "AWS4-HMAC-SHA256 Credential=AKIAZQ3DN6WLF7J4XPRT/",
            "AUTH PLAIN ", '"AUTH" "', "> AUTH ", "ConvertTo-SecureString '", "NetworkCredential(\"a\", ",
            "u:p@tcp(", "&appid=", "DB_PASSWORD  ", "Property: password\n", "password\nuser:Kanel2024x\n",
            # the secret rules of h-secrets12: hard-wrapped lines (long lines that end inside a
            # value), key-blank-value lines, stdin pipes, relay lines, login arguments, headers,
            # scheme tags, Pulumi and Terraform state, shared-secret elements, OCR'd key ids
            "app-1  | conn=mysql://u:Tq7x" + "Lm2Wx9Rt4Kv8Bn3Jc1Qz7p" * 2 + "\n", "HTTP_Passwd  Brn7!x\n",
            "echo 'Tq7!x' | ", "[smtp.a.io]:587 u:Tq7x!\n", "+login u ", "-password ", "x-honeycomb-team: ",
            "{PLAIN}", '"p": {"4dabf18193072939515e22adb298388d": "', '"type": "random_password"',
            "<pre-shared-key>", "AKlA", "<name>db.password</name>", "ParameterKey")


def texts(size: int = SIZE) -> Iterator[tuple[str, str]]:
    """(name, text) pairs, each about ``size`` characters."""
    for char in string.punctuation + " \t\n":
        yield f"run {char!r}", char * size
        yield f"run {char!r} + BEGIN", char * (size - 5) + "BEGIN"
        yield f"run '{char} '", (char + " ") * (size // 2)
        yield f"run 'a{char}'", ("a" + char) * (size // 2)
    for prefix in PREFIXES:
        yield f"repeat {prefix!r}", prefix * (size // len(prefix))
    row = "| ana.r | Quokka!Dune42 |\n"
    yield "table under a password header", "| user | password |\n" + row * ((size - 20) // len(row))
    yield "one long table row", "| password |" + "a|" * ((size - 12) // 2)
    csv_row = "ana,https://signin.aws.amazon.com,ana.r,Quokka!Dune42\n"
    yield "csv under a password header", "name,url,username,password\n" + csv_row * ((size - 28) // len(csv_row))
    yield "one long csv row", "password," + "a," * ((size - 9) // 2)
    yield "user:password lines near a password word", "passwort\n" + "kunde:Kanelbulle2024\n" * ((size - 9) // 21)
    yield "nested brackets", "[" * (size // 4) + "(" * (size // 4) + "{" * (size // 4) + "<" * (size // 4)
    yield "digits", "1" * size
    yield "base64", "aB3+" * (size // 4)
    yield "1 MB of {{ (review input)", "{{" * 500_000


def _worst(scan, items: list[tuple[str, str]]) -> tuple[float, str, float]:
    worst_ms, worst_name, worst_per_kb = 0.0, "", 0.0
    for name, text in items:
        start = time.perf_counter()
        scan(text)
        ms = (time.perf_counter() - start) * 1000
        per_kb = ms / (len(text) / 1000)
        if len(text) <= SIZE + 10 and ms > worst_ms:
            worst_ms, worst_name = ms, name
        worst_per_kb = max(worst_per_kb, per_kb)
    return worst_ms, worst_name, worst_per_kb


def run() -> list[BenchResult]:
    """Run the benchmark and return its measurements."""
    for _name, text in texts(WARM_UP_SIZE):  # one-off loading and compiling, not per input
        scan_input(text)
        scan_output(text)
    items = list(texts())
    in_ms, in_name, in_kb = _worst(scan_input, items)
    out_ms, out_name, out_kb = _worst(scan_output, items)
    engine = ("re2.Set pass over anchors and derived gates, per-rule RE2 supersets" if SCANNER.engine.use_re2
              else "pure-Python anchors and gates")
    return [
        BenchResult(AREA, "adversarial: worst scan_input, <= 100 KB", round(in_ms, 1), "ms",
                    f"<= {INPUT_TARGET_MS:g}", in_ms <= INPUT_TARGET_MS, f"{in_name}; {len(items)} texts; {engine}"),
        BenchResult(AREA, "adversarial: worst scan_input per KB", round(in_kb, 3), "ms/KB", "-", None),
        BenchResult(AREA, "adversarial: worst scan_output, <= 100 KB", round(out_ms, 1), "ms",
                    f"<= {OUTPUT_TARGET_MS:g}", out_ms <= OUTPUT_TARGET_MS, out_name),
        BenchResult(AREA, "adversarial: worst scan_output per KB", round(out_kb, 3), "ms/KB", "-", None),
    ]


if __name__ == "__main__":  # pragma: no cover
    for result in run():
        print(f"{result.name:45s} {result.value:>10} {result.unit:6s} {result.target:8s} {result.meets_target} {result.detail}")
