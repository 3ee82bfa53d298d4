"""Secrets written in pieces (the closed-up view) and the second blind batch's secret classes.

Every credential below is random and fake, written here (not copied from a golden set).
"""

from __future__ import annotations

import pytest

from pipeline.domain.guardrails import pure_python_scanner, scan_input
from pipeline.domain.guardrails.closeup import closed_up, odd_separator_positions
from pipeline.domain.models import SECRET_CATEGORIES
from pipeline.domain.textnorm import normalize

KEY = "AKIA" + "Q7MZ4XW2HD6PLR3N"
NO_DIGIT_KEY = "AKIA" + "QWMZHXWBHDSPLRTN"
SECRET = "n3Xv9QpL2bT7kWz+Rm4Jc8Yd/Hs1Fg6Ue0Ao5Ki7"
STRIPE = "sk_" + "live_" + "Tq4Wm8Zp2Xr6Ln0Vb3Hc9Jd"
GITHUB = "ghp_" + "Vb3Hc9JdTq4Wm8Zp2Xr6Ln0Kq7Rs1Ux5Yt"


def _groups(value: str, size: int, sep: str) -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # equal groups separated by blanks or dashes, the vendor prefix split too
        (f"printed sheet: {_groups(SECRET, 8, '  ')}\nis it still valid?", "aws_secret_key"),
        (f"card reader output {_groups(STRIPE, 5, ' ')} please help", "generic_secret"),
        (f"token: {_groups(GITHUB, 6, '-')}  # joined at runtime", "generic_secret"),
        # odd separators inside a key: middle dots, no-break spaces, wide spaces, line separators
        (f"Zugang: {_groups(NO_DIGIT_KEY, 4, chr(0xB7))}", "aws_access_key"),
        (f"wiki copy: {_groups(SECRET, 5, chr(0xB7))} (dots added by the wiki)", "aws_secret_key"),
        ("hook https://hooks.slack.com/services/T04KQ7ZM2\u00a0W/B05LRX9\u00a0PQ3A/Tq4Wm8Zp2Xr6Ln0Vb3Hc9Jd", "generic_secret"),
        ("I set the admin password to Nube\u3000Roja\u30007731 yesterday", "password"),
        # string literals joined in code
        (f'const k = "{GITHUB[:9]}" + "{GITHUB[9:]}";', "generic_secret"),
        (f'String s = "{SECRET[:10]}"\n    + "{SECRET[10:25]}"\n    + "{SECRET[25:]}";', "aws_secret_key"),
        (f'const p = ["{KEY[:7]}", "{KEY[7:14]}", "{KEY[14:]}"];', "aws_access_key"),
        (f'const s = "{SECRET[:12]}".concat("{SECRET[12:30]}", "{SECRET[30:]}");', "aws_secret_key"),
        (f'ID="{KEY[:9]}\\\n{KEY[9:]}"', "aws_access_key"),
    ],
)
def test_secrets_written_in_pieces_are_found(text: str, category: str) -> None:
    verdict = scan_input(text)
    assert verdict.blocked and category in verdict.categories, verdict.findings
    # the span points into the original text and the redaction removes the pieces
    assert SECRET[:8] not in verdict.redacted_text and KEY[4:11] not in verdict.redacted_text


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ('Client("AC3f9a0b7c6d5e4f3a2b1c0d9e8f7a6b5c", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")', "generic_secret"),
        ("export NEW_RELIC_KEY=NRAK-Q2W4E6R8T0Y1U3I5O7P9A2S4D6F", "generic_secret"),
        ("the Entra app uses client secret Wq3Lm9.Zp2Xr6Ln0Vb3_Hc9JdTq4Wm8Kq7 for Graph", "generic_secret"),
        ("redis-cli --tls -h queue.internal -a 'Lm7-Quiet-Harbor' info", "password"),
        ('sqlcmd -S reports.corp,1433 -U etl -P "Fern&Moss&Stone4" -Q "select 1"', "password"),
        ("machine git.corp.io\n  login builder\n  password Kq7Rs1Ux5Yt9Lm", "password"),
        ("analytics.corp.internal:5432:bi:reader:Velvet-Owl-1988", "password"),
        ("Data Source=sql01;Initial Catalog=hr;User ID=svc;Password=Quiet.Orchard.Lane;", "password"),
        ('[{"key": "Partner-Api-Secret", "value": "Zp2Xr6Ln0Vb3Hc9JdTq4Wm8K"}]', "generic_secret"),  # an API secret: GUIDE §3.1
        ("define( 'MAIL_PASSWORD', 'Otter-Glides-At-Noon' );", "password"),
        ("$conn = mysqli_connect('db.corp', 'shop', 'Harbor!Mint!62');", "password"),
        ("CI_PGPASS: dGhpcy1pcy1ub3QtYS1yZWFsLTQy\nrun: psql", "password"),
        ('<Pass encoding="base64">Tm90LUEtUmVhbC1QYXNzLTk5</Pass>', "password"),
        ("I added the contractor with the password Pelican#5521 but he can't sign in", "password"),
        ("le mdp du serveur FTP c'est Brioche!Lune!77 et il ne marche plus", "password"),
        ("le pusimos como contraseña Mate.Amargo.1985 al usuario", "password"),
        ("RDSのパスワードを「Kaede_2031x」に設定しました", "password"),
        ('the tool asked for a passphrase and I used "green tea at noon 1999" like always', "password"),
        ("  DbPassword:\n    Type: String\n    NoEcho: true\n    Default: Juniper-Gate-73", "password"),
    ],
)
def test_second_batch_classes_block(text: str, category: str) -> None:
    verdict = scan_input(text)
    assert verdict.blocked and category in verdict.categories, verdict.findings


@pytest.mark.parametrize(
    "text",
    [
        "  SmtpPassword:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /prod/mail/smtp-password",
        "withCredentials([usernamePassword(credentialsId: 'db', passwordVariable: 'PG_PASS')]) {\n"
        "  sh 'flyway -url=jdbc:postgresql://$PG_HOST/app -password=$PG_PASS migrate'\n}",
        "  passwordSecret:\n    name: orders-db-credentials\n    key: password",
        "mysql -u admin -p\nEnter password:\nERROR 1045 (28000): Access denied (using password: YES)",
        '{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-Ab12Cd"}',
        "these four long words then some more words here",
        "Región · Zona · Cuenta",
        'print("Hello" + " " + "world")',
        "release 2024-2025-2026-2027 notes",
        "the password PBKDF2-SHA256 scheme is configured in the app",
    ],
)
def test_pieces_of_ordinary_text_are_no_secrets(text: str) -> None:
    verdict = scan_input(text)
    assert not set(verdict.categories) & set(SECRET_CATEGORIES), verdict.findings


def test_closed_up_view_maps_back_to_the_text() -> None:
    text = f"x {_groups(STRIPE, 4, ' ')} y"
    view, offsets = closed_up(text)  # type: ignore[misc]
    assert STRIPE in view
    start = view.index(STRIPE)
    assert text[offsets[start]] == STRIPE[0] and text[offsets[start + len(STRIPE) - 1]] == STRIPE[-1]
    assert closed_up("plain words without any joints") is None


def test_odd_separators_are_located_in_the_normalised_view() -> None:
    text = "ＡＢ key A\u00b7B and C\u00a0D, not E \u00b7 F"
    view = normalize(text)
    positions = odd_separator_positions(text, view.offsets)
    assert [view.text[p - 1 : p + 2] for p in positions] == ["A\u00b7B", "C D"]


@pytest.mark.parametrize(
    "text",
    [
        f"printed sheet: {_groups(SECRET, 8, '  ')}",
        f'const p = ["{KEY[:7]}", "{KEY[7:14]}", "{KEY[14:]}"];',
        f"Zugang: {_groups(NO_DIGIT_KEY, 4, chr(0xB7))}",
        "the password PBKDF2-SHA256 scheme",
    ],
)
def test_pure_python_path_agrees(text: str) -> None:
    assert pure_python_scanner().scan_input(text) == scan_input(text)


def test_a_split_key_at_the_end_of_a_long_text_is_found() -> None:
    text = "a1b2 " * 4000 + "\n" + "words " * 4000 + f'k = "{KEY[:10]}" + "{KEY[10:]}"'
    assert "aws_access_key" in scan_input(text).categories


def test_a_policy_action_list_is_not_a_split_secret():
    # Array elements with a colon or a blank are words of a list, not pieces of one value.
    from pipeline.domain.guardrails import scan_input

    policy = ('{"Effect": "Deny", "NotAction": [\n  "iam:ListMFADevices", "iam:ChangePassword",\n'
              '  "sts:GetSessionToken"\n], "Resource": "*"}')
    assert scan_input(policy).action.value == "allow"


# Hard-wrapped lines (secrets_train12): a log viewer, a terminal or an event log breaks a long
# line at its width, mid-token. Every value below is random and fake, written here.
_WRAPPED_LOG_PREFIX = "api-7  | "


@pytest.mark.parametrize(
    ("text", "category", "piece"),
    [
        # a connection string cut inside its password, both lines behind one container prefix
        (f"{_WRAPPED_LOG_PREFIX}INFO pool: dialing postgres://ledger:Quill9\n"
         f"{_WRAPPED_LOG_PREFIX}vRt2#Lmx@ledger-db.internal:5432/ledger\n", "password", "vRt2#Lmx"),
        # a key name cut in two inside a field list ("…;Pass" / "word=…")
        ("Exception text: Data Source=sql-01.corp,1433;Initial Catalog=hr;User ID=hr_web;Pass\n"
         "word=Tamarisk_Q7vLx2;Encrypt=True\n", "password", "Tamarisk_Q7vLx2"),
        # an opaque secret key cut in a CSV cell
        (f"Access key ID,Secret access key\n{KEY},{SECRET[:20]}\n{SECRET[20:]}\n", "aws_secret_key", SECRET[20:]),
        # the same prefix of timestamps: the value goes on after it
        (f"2026-01-02T03:04:05Z  boot env: region=eu-west-1 aws_secret_access_key={SECRET[:17]}\n"
         f"2026-01-02T03:04:05Z  {SECRET[17:]} use_fips=false\n", "aws_secret_key", SECRET[17:]),
    ],
)
def test_secrets_in_hard_wrapped_lines_are_found(text: str, category: str, piece: str) -> None:
    verdict = scan_input(text)
    assert verdict.blocked and category in verdict.categories, verdict.findings
    assert piece not in verdict.redacted_text


@pytest.mark.parametrize(
    "text",
    [
        # a command that ends the line, then the tool's prompt
        "docker exec -it db mysql -u root --host 127.0.0.1 -p\nEnter password:\n",
        # a hostname, then a warning
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com\nWARNING! config\n",
        # an ARN at the end of a log line, then the next log line behind the same prefix
        "[ERROR] setSecret: cannot log in with secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-Xy12Zq\n"
        "[ERROR] Task timed out after 30.00 seconds\n",
    ],
)
def test_lines_that_end_a_token_are_not_glued(text: str) -> None:
    assert not set(scan_input(text).categories) & set(SECRET_CATEGORIES)


def test_a_wrapped_value_does_not_swallow_the_next_key() -> None:
    text = f"GITHUB_TOKEN={GITHUB}\nAPPLE_ID=jo.tester.dev@gmail.com\n"
    verdict = scan_input(text)
    assert {"generic_secret", "pii"} <= set(verdict.categories)
    assert all("\n" not in text[f.start : f.end] for f in verdict.findings), verdict.findings


def test_a_plural_key_s_word_list_is_not_a_password_assignment() -> None:
    # candidate passwords to try (a credential-stuffing script): the assignment rule does not
    # take the list (joined up or not) as one credential; the prose rules and the refusal
    # heads judge the message
    verdict = scan_input('passwords = ["Spring2026!", "Welcome1!", "Harbor#2024"]\n')
    assert "password.assignment" not in {f.rule_id for f in verdict.findings}
