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
