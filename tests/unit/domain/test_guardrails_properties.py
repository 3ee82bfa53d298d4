"""Property-based tests: generated secrets embedded in benign text always block, text from
the hard-negative grammar always passes the catalogue's patterns (and the learned heads
block at most a small, measured share of it), and evasion mutations of a secret still block."""

from __future__ import annotations

import math
import random
import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.guardrails import Scanner, scan_input, scan_output
from pipeline.domain.models import GuardrailAction

BASE32 = string.ascii_uppercase + "234567"
B64 = string.ascii_letters + string.digits + "/+"

BENIGN_WORDS = (
    "my lambda function times out when it calls the s3 bucket in us-east-1 after deploy "
    "how do i fix cloudformation stack rollback the ec2 instance cannot reach rds and vpc "
    "routing looks fine thanks for the help why is the bill higher this month"
).split()

benign_text = st.lists(st.sampled_from(BENIGN_WORDS), min_size=0, max_size=25).map(" ".join)

access_keys = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["AKIA", "ASIA"]),
    st.text(alphabet=BASE32, min_size=16, max_size=16),
).filter(lambda k: not k.endswith("EXAMPLE") and not re.search(r"(.)\1{7}", k[4:]))
# ...and not a mask: eight identical characters ("AKIAXXXXXXXXXXXXXXXX") never occur in a
# random key body (p < 1e-7) and the guide counts masked keys as allowed.


def _entropy(value: str) -> float:
    return -sum(value.count(c) / len(value) * math.log2(value.count(c) / len(value)) for c in set(value))


def _random_enough(secret: str) -> bool:
    # Real secret access keys are drawn uniformly from 64 symbols: every one of them has
    # upper, lower, digits and > 4.3 bits/char. Filter out the rare degenerate draw.
    return (
        any(c.isupper() for c in secret)
        and any(c.islower() for c in secret)
        and any(c.isdigit() for c in secret)
        and _entropy(secret) > 4.3
    )


secret_keys = st.randoms(use_true_random=False).map(
    lambda rnd: "".join(rnd.choice(B64) for _ in range(40))
).filter(_random_enough)
github_tokens = st.text(alphabet=string.ascii_letters + string.digits, min_size=36, max_size=36).map(
    lambda s: "ghp_" + s
)
passwords = st.builds(
    lambda word, digits, sym: word.capitalize() + digits + sym,
    st.sampled_from(["summer", "orange", "kettle", "falcon", "marble"]),
    st.text(alphabet=string.digits, min_size=2, max_size=4),
    st.sampled_from(["!", "#", "$", "%", "&"]),
)


@settings(max_examples=150, deadline=None)
@given(before=benign_text, after=benign_text, key=access_keys)
def test_access_key_in_benign_text_blocks(before: str, after: str, key: str) -> None:
    verdict = scan_input(f"{before} {key} {after}")
    assert verdict.action is GuardrailAction.BLOCK
    assert "aws_access_key" in verdict.categories
    assert key not in verdict.redacted_text


@settings(max_examples=150, deadline=None)
@given(before=benign_text, after=benign_text, secret=secret_keys,
       form=st.sampled_from(["aws_secret_access_key = {}", '"SecretAccessKey": "{}"',
                             "AWS_SECRET_ACCESS_KEY={}", "my secret key is {}", "{}"]))
def test_secret_key_in_benign_text_blocks(before: str, after: str, secret: str, form: str) -> None:
    verdict = scan_input(f"{before}\n{form.format(secret)}\n{after}")
    assert verdict.blocked
    assert "aws_secret_key" in verdict.categories
    assert secret not in verdict.redacted_text


@settings(max_examples=100, deadline=None)
@given(before=benign_text, token=github_tokens)
def test_vendor_token_blocks(before: str, token: str) -> None:
    verdict = scan_input(f"{before} token {token}")
    assert "generic_secret" in verdict.categories
    assert token not in verdict.redacted_text


@settings(max_examples=100, deadline=None)
@given(before=benign_text, password=passwords,
       form=st.sampled_from(["password={}", "my password is {}", "DB_PASSWORD: '{}'", "pw: {}"]))
def test_password_blocks(before: str, password: str, form: str) -> None:
    verdict = scan_input(f"{before}. {form.format(password)}")
    assert "password" in verdict.categories
    assert password not in verdict.redacted_text


# The hard-negative grammar: identifiers, hashes and questions that look secret-ish but are not.
hex_strings = lambda n: st.text(alphabet="0123456789abcdef", min_size=n, max_size=n)  # noqa: E731
uuids = st.builds(lambda a, b, c, d, e: f"{a}-{b}-{c}-{d}-{e}", hex_strings(8), hex_strings(4), hex_strings(4),
                  hex_strings(4), hex_strings(12))
account_ids = st.text(alphabet=string.digits, min_size=12, max_size=12)
hard_negative = st.one_of(
    st.builds("RequestId: {}".format, uuids),
    st.builds('ETag "{}"'.format, hex_strings(32)),
    st.builds("commit {}".format, hex_strings(40)),
    st.builds("sha256:{}".format, hex_strings(64)),
    st.builds("arn:aws:iam::{}:role/AppRole".format, account_ids),
    st.builds("account {} was charged".format, account_ids),
    st.sampled_from([
        "How do I rotate my access keys?",
        "I forgot my root password, how do I reset it?",
        "What format does an AWS access key id have?",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "my IAM role ignores the policy",
        "password: ${DB_PASSWORD}",
        "When does Python 3.9 reach end of support in Lambda?",
    ]),
)


PATTERNS_ONLY = Scanner(learned_heads=False)


@settings(max_examples=200, deadline=None)
@given(before=benign_text, negative=hard_negative, after=benign_text)
def test_hard_negative_grammar_passes_the_patterns(before: str, negative: str, after: str) -> None:
    # The catalogue's patterns are rules: no text of this grammar may trip them, ever.
    verdict = PATTERNS_ONLY.scan_input(f"{before} {negative} {after}".strip())
    assert verdict.action is GuardrailAction.ALLOW, verdict.findings


def test_the_learned_heads_block_almost_none_of_the_hard_negative_grammar() -> None:
    # The learned heads are statistical: "always" cannot be promised for word salad (a head
    # reads "when ... lambda ... ec2" as a question about the future). Their share is measured
    # on a fixed sample instead: under 0.5% of 3,000 texts (0.05% when the heads were trained).
    rng = random.Random(20261206)
    examples: list[str] = []
    fixed = [
        "RequestId: 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c", 'ETag "9b2cf535f27731c974343645a3985328"',
        "commit 3f786850e387550fdab836ed7e6dc881de23001b", "arn:aws:iam::123456789012:role/AppRole",
        "account 123456789012 was charged", "How do I rotate my access keys?", "my IAM role ignores the policy",
        "I forgot my root password, how do I reset it?", "What format does an AWS access key id have?",
        "password: ${DB_PASSWORD}", "When does Python 3.9 reach end of support in Lambda?",
        "DB_PASSWORD=os.environ['DB_PASSWORD']",
    ]
    for _ in range(3000):
        words = [rng.choice(BENIGN_WORDS) for _ in range(rng.randint(0, 50))]
        words.insert(rng.randint(0, len(words)), rng.choice(fixed))
        examples.append(" ".join(words))
    blocked = [text for text in examples if scan_input(text).blocked]
    assert len(blocked) / len(examples) < 0.005, blocked[:5]


CONFUSABLE = {"A": "А", "K": "К", "I": "І", "S": "Ѕ", "E": "Е", "O": "О", "P": "Р", "C": "С", "T": "Т"}


@settings(max_examples=150, deadline=None)
@given(key=access_keys, data=st.data())
def test_mutated_access_key_still_blocks(key: str, data: st.DataObject) -> None:
    mutation = data.draw(st.sampled_from(["zero_width", "lower", "confusable", "fullwidth", "spaced"]))
    if mutation == "zero_width":
        position = data.draw(st.integers(1, len(key) - 1))
        mutated = key[:position] + data.draw(st.sampled_from(["\u200b", "\u200c", "\u2060", "\ufeff"])) + key[position:]
    elif mutation == "lower":
        mutated = key.lower() if sum(c.isdigit() for c in key[4:]) >= 2 else key
    elif mutation == "confusable":
        mutated = "".join(CONFUSABLE.get(c, c) if data.draw(st.booleans()) else c for c in key)
    elif mutation == "fullwidth":
        mutated = "".join(chr(ord(c) + 0xFEE0) for c in key)
    else:
        mutated = " ".join(key)
    text = f"here it is: {mutated} thanks"
    verdict = scan_input(text)
    assert "aws_access_key" in verdict.categories
    # Nothing of the key survives in the stored text.
    assert mutated not in verdict.redacted_text


# Long random text (any printable characters, punctuation runs included) with a secret at
# its very end: the anchor pass and the windows must still reach it.
long_noise = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + string.punctuation + " \n\t-_:"),
    min_size=2000, max_size=20000,
)


@settings(max_examples=40, deadline=None)
@given(noise=long_noise, key=access_keys, secret=secret_keys,
       which=st.sampled_from(["access", "secret", "password", "token", "grouped", "base64", "xml", "prose_zh",
                              "vault", "der", "table", "passphrase", "psk", "cookie", "pem_log"]))
def test_secret_at_the_very_end_of_long_random_text_is_found(noise: str, key: str, secret: str, which: str) -> None:
    tail = {
        "access": (f" {key}", "aws_access_key"),
        "secret": (f"\naws_secret_access_key = {secret}", "aws_secret_key"),
        "password": ("\nDB_PASSWORD=Winter2024!x", "password"),
        "token": ("\ntoken ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "generic_secret"),
        "grouped": (f" {key[:8]}\u2800{key[8:]}", "aws_access_key"),
        "base64": ("\necho 'ZGVwbG95OlBhNTV3MHJkOTk=' | base64 -d", "password"),
        "xml": ('\n<property name="connection.password">Qw9#vLp2x</property>', "password"),
        "prose_zh": ("\n我的主密码是 Mango$1764", "password"),
        "vault": ("\nVAULT_TOKEN=hvs.CAESIJk2n7QpX4mLr9TzV1bW8yE3uH6sKdF0gA5cNjYqOiPx", "generic_secret"),
        "der": ("\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQp64i+zh5IuSJ7MxYtXcWt1488Bh36BpEBPR+2/bouQw"
                "OvyQYzy+gDGwi0GgKnmiKkld7wVRvCx8dlLKlzLbh5BYZ41pJm9Uhsg", "private_key"),
        "table": ("\n| login | pw_plain |\n|---|---|\n| ana.r | Quokka!Dune42 |", "password"),
        "passphrase": ("\nssh-keygen -p -f k.pem -N 'lantern under the old bridge'", "password"),
        # an IPsec pre-shared key is a device-to-device secret (GUIDE decisions v2.5)
        "psk": ('\n203.0.113.5 198.51.100.7 : PSK "Wn8_tLq2.Rv5pZk0"', "generic_secret"),
        "cookie": ("\n-H 'Cookie: app_session=Qm7vR2xKp9LnT4sWc8ZyUe3fJ1aH6dG0bN5kV7mX_q3Zt9'", "generic_secret"),
        "pem_log": ("\nDEBUG head: -----BEGIN RSA PRIVATE KEY-----\nDEBUG line1: "
                    "MIIEowIBAAKCAQEAu70dpl09LmG9y3TcPaWlA7Ukrh3LkpJwuh7LZbR0AyaaAZnv", "private_key"),
    }[which]
    verdict = scan_input(noise + tail[0])
    assert tail[1] in verdict.categories


# The adversarial benchmark's repeated prefixes (evals/benchmarks/adversarial.py), long enough
# to make rules fire thousands of times: a key after them is still found by both directions.
@settings(max_examples=30, deadline=None)
@given(prefix=st.sampled_from(["mysql ", "password: ", "AKIA", "secret=", "token: ", "--password ", "1111 ",
                               "Bearer ", "eyJ", "a://", "-" * 7, "{{", "[", "\u00a0",
                               "| password |\n", "Cookie: session=", "ssh-keygen -N ", "#define PASS ",
                               "app-1  | conn=mysql://u:Tq7xLm2Wx9Rt4Kv8Bn3Jc1Qz7pAb\n", "HTTP_Passwd  Brn7!x\n",
                               "echo 'Tq7!x' | ", "+login u ", "{PLAIN}", '"type": "random_password"']),
       repeats=st.integers(min_value=200, max_value=3000), key=access_keys)
def test_a_key_after_a_long_repeated_prefix_is_found_in_input_and_output(prefix: str, repeats: int, key: str) -> None:
    text = prefix * repeats + f"\n{key}"
    assert "aws_access_key" in scan_input(text).categories
    output = scan_output(text)
    assert output.blocked and key not in output.redacted_text
