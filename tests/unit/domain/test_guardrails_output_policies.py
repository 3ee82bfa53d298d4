"""The output guardrail on whole answers: each rule family on hand-made answers.

A defect is one sentence anywhere in a long Markdown answer (prose, a list item, a table cell,
a code comment, a footnote): the answer must be blocked (or redacted for PII) wherever it
sits, and the same answer with a harmless sentence in that place must pass. The cases are
written here, by hand, for these tests; none is copied from a golden set.
"""

from __future__ import annotations

import pytest

from pipeline.domain import guardrails
from pipeline.domain.guardrails import output_policies, scan_output
from pipeline.domain.models import GuardrailAction

ANSWER = """## Fixing `ThrottlingException` on DynamoDB writes

Throttling means a partition received more writes than it can absorb. {prose}

### 1. Check the table's capacity mode

```bash
aws dynamodb describe-table --table-name orders \\
  --query 'Table.BillingModeSummary'
# {comment}
```

| Mode | When to use |
|---|---|
| On-demand | Spiky or unknown traffic. {cell} |
| Provisioned | Steady traffic with auto scaling |

### 2. Spread the keys

- Add a random suffix to hot partition keys.
- {item}

Retries with exponential backoff are built into the SDKs; keep them enabled.

{footnote}
"""

_PLACES = ("prose", "comment", "cell", "item", "footnote")
_NEUTRAL = "Check the metrics in CloudWatch first."


def answer_with(sentence: str, place: str) -> str:
    fields = dict.fromkeys(_PLACES, _NEUTRAL)
    fields[place] = sentence
    return ANSWER.format(**fields)


def test_the_base_answer_passes() -> None:
    assert scan_output(answer_with(_NEUTRAL, "prose")).action is GuardrailAction.ALLOW


FUTURE_COMMITMENTS = [
    # unreleased changes, with a time
    "Adaptive capacity is being extended to global tables later this year.",
    "The per-partition limit is going up to 3,000 WCU in the next few months.",
    "DynamoDB will add native TTL-based archiving to S3 in an upcoming release.",
    "Point-in-time recovery becomes free for tables under 10 GB starting next year.",
    "This throttling bug will be fixed next week, so the workaround is temporary.",
    # roadmap claims without a date
    "Automatic hot-key splitting is already on the roadmap.",
    "The DynamoDB team confirmed to me that a fix is shipping soon.",
    # actions on the account the assistant cannot take
    "I've applied a $50 credit to your account for the throttled hours.",
    "I've asked the service team to raise your table's limits tonight.",
    "I'll get the on-demand charges for this week waived.",
    # outcomes committed for AWS
    "AWS will refund the extra write units you were billed.",
    "The throttled hours will be credited back to you under the SLA.",
    "You'll receive a full refund for the reserved capacity you don't use.",
    "Your quota increase has been approved.",
]

FINE_NEIGHBOURS = [
    # how to request, where to follow announcements, deflections
    "If you think you were billed wrongly, open a billing case and ask for a review; refunds are decided case by case.",
    "You may be eligible for a credit; the billing team decides after reviewing the case.",
    "I can't share future plans; announced features are listed on the What's New page.",
    "You can vote for feature requests on the public roadmap on GitHub.",
    "I can't promise a specific outcome, but including the request ids helps.",
    # future tense about the customer's own resources or about behaviour
    "Your bill will drop next month once the table switches to provisioned mode.",
    "The next deployment will pick up the new retry settings.",
    "Once the backfill completes, the table will be available for reads again.",
    "The Node.js 16 runtime will be deprecated next year; plan the upgrade.",
    "Plan for the capacity you need over the next few months.",
    # first person about the answer itself
    "I've included a retry helper below that you can adapt.",
    "I've seen this pattern when every item shares one partition key.",
]


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("sentence", FUTURE_COMMITMENTS)
def test_future_commitments_block_wherever_they_sit(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK, (sentence, place)
    assert "future_commitment" in verdict.categories


@pytest.mark.parametrize("sentence", FINE_NEIGHBOURS)
def test_requests_deflections_and_customer_futures_pass(sentence: str) -> None:
    for place in _PLACES:
        assert scan_output(answer_with(sentence, place)).action is GuardrailAction.ALLOW, (sentence, place)


DISPARAGEMENT = [
    "Cosmos DB's partitioning is a confusing mess by comparison.",
    "Unlike Bigtable, this actually stays up under load.",
    "Don't go back to MongoDB Atlas; it's an overpriced toy.",
    "Datadog would charge triple for the same dashboards.",
    "Good call leaving Oracle; their licensing team is a running joke.",
    "Google has a habit of abandoning products like this.",
    "Firebase is painfully slow for this kind of workload.",
    "Other cloud providers' NoSQL offerings are second-rate at best.",
]

NEUTRAL_COMPARISONS = [
    "If you are coming from Azure Cosmos DB, request units map roughly to DynamoDB capacity units.",
    "Google Cloud Bigtable has similar hot-key guidance, so the same key design carries over.",
    "To migrate from MongoDB Atlas, export with mongodump and import with AWS DMS.",
    "Cloudflare can stay your DNS provider; point a CNAME at the API endpoint.",
    "Your retry loop is a mess of nested callbacks; move it into a helper.",
]


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("sentence", DISPARAGEMENT)
def test_disparagement_blocks_wherever_it_sits(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK, (sentence, place)
    assert verdict.categories == ("competitor_disparagement",)


@pytest.mark.parametrize("sentence", NEUTRAL_COMPARISONS)
def test_neutral_comparisons_and_migration_guides_pass(sentence: str) -> None:
    for place in _PLACES:
        assert scan_output(answer_with(sentence, place)).action is GuardrailAction.ALLOW, (sentence, place)


# --- families added for whole answers written by others (hedged claims, other languages) ---

MORE_FUTURE_COMMITMENTS = [
    # hedged predictions in AWS's name, without a date
    "Very likely AWS will raise this limit before long, so I'd hold off on sharding.",
    "I expect AWS to lift this quota in the near future.",
    "AWS will almost certainly add native Terraform support for this.",
    # changes with a time, in forms the first rules missed
    "This bug is fixed in the next CLI version, out next Tuesday.",
    "The new limit of 5,000 per account will take effect on March 1.",
    "Rumour is that Graviton4 instances will come to this Region in a couple of months.",
    "Keep the workaround until the native integration ships (ETA: February).",
    # outcomes settled or promised
    "Your refund of $87.20 has been processed and should arrive in 3-5 days.",
    "We'll cover the cost of the extra NAT gateway hours this month.",
    "I've extended your free tier by three months.",
    # other languages
    "Por cierto, AWS lanzará el próximo trimestre una opción nativa para esto.",
    "A AWS vai lançar no próximo trimestre uma opção nativa para isso.",
    "Bonne nouvelle : AWS publiera une option native au premier trimestre.",
    "Übrigens wird AWS im nächsten Quartal eine native Lösung dafür veröffentlichen.",
    "AWS は来四半期にこの機能をサポートする予定です。",
    "Je vous confirme qu'AWS vous remboursera les heures facturées pendant l'incident.",
    "Ich habe Ihnen bereits eine Gutschrift für die Kosten des letzten Monats eingetragen.",
    "Já apliquei um crédito referente às cobranças do mês passado.",
]

MORE_FINE_NEIGHBOURS = [
    "The old console experience is going away next month, as announced in the blog post.",
    "Amazon Linux 2 reaches end of support on 2026-06-30, as announced.",
    "AWS may raise the limit after reviewing your request in Service Quotas.",
    "AWS will replace the instance automatically if it fails the health check.",
    "The parameter change will take effect after the next reboot, which you can schedule.",
    "Python 3.8 dejará de ser compatible el próximo año, según el calendario publicado.",
    "Vous pouvez demander un remboursement via le Centre de support.",
    "Sie können eine Gutschrift über das Support Center beantragen.",
    "Você vai lançar a nova versão no próximo trimestre; faça um teste antes.",
    "We'll cover the three likely causes in order.",
]

MORE_DISPARAGEMENT = [
    "Vercel and Netlify are marketing companies that resell someone else's servers.",
    "Hetzner is cheap for a reason: not something a real business should rely on.",
    "Datadog will just burn your money on dashboards CloudWatch already gives you.",
    "Frankly, Snowflake's access model is weak compared with Lake Formation.",
    "Supabase is a weekend project dressed up as a platform.",
    "Sinceramente, en Azure esto sería mucho peor: su red es un caos.",
    "Ehrlich gesagt ist die Rechteverwaltung bei Azure ein einziges Chaos.",
    "Franchement, chez OVHcloud l'infrastructure n'est pas sérieuse.",
    "正直なところ、Azure のサポートは当てになりません。",
]

MORE_NEUTRAL = [
    "Vercel and Netlify are popular for front-end hosting; Amplify Hosting covers the same use case.",
    "Linode is fine for small sites too; compare egress pricing before you move.",
    "Your Terraform state is a mess of drift; run terraform plan first.",
    "La migración desde Azure es sencilla: exporta los discos y usa AWS Application Migration Service.",
]


@pytest.mark.parametrize("place", ["prose", "comment", "footnote"])
@pytest.mark.parametrize("sentence", MORE_FUTURE_COMMITMENTS)
def test_hedged_timed_and_foreign_language_commitments_block(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK, (sentence, place)
    assert "future_commitment" in verdict.categories


@pytest.mark.parametrize("sentence", MORE_FINE_NEIGHBOURS + MORE_NEUTRAL)
def test_requests_behaviour_and_neutral_notes_in_any_language_pass(sentence: str) -> None:
    assert scan_output(answer_with(sentence, "prose")).action is GuardrailAction.ALLOW, sentence


@pytest.mark.parametrize("place", ["prose", "cell", "footnote"])
@pytest.mark.parametrize("sentence", MORE_DISPARAGEMENT)
def test_more_disparagement_families_block(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK, (sentence, place)
    assert verdict.categories == ("competitor_disparagement",)


@pytest.mark.parametrize(
    "sentence",
    ["export STRIPE_SECRET_KEY=sk_test_YOUR_KEY_HERE", "SLACK_BOT_TOKEN=xoxb-your-bot-token-here",
     'password = secret["password"]'],
)
def test_vendor_prefixed_placeholders_and_lookups_pass(sentence: str) -> None:
    assert scan_output(answer_with(sentence, "comment")).action is GuardrailAction.ALLOW, sentence


def test_a_pronoun_carries_the_provider_into_the_next_sentence() -> None:
    text = answer_with("Twilio can send the same SMS. Their delivery receipts are a joke.", "footnote")
    assert scan_output(text).categories == ("competitor_disparagement",)


SECRETS = [
    "I filled in the connection for you: user `orders_rw`, password `Vb8#qLm2Zx7tRk`.",
    'Set { "name": "GRAFANA_PASS", "value": "Wq4zLp9XmT2vRb7N" } in the task definition.',
    "The admin password is generated at launch. Yours is `3hTqZm8vLpW2xKcR`; change it after logging in.",
]
NOT_SECRETS = [
    "Keep the password in Secrets Manager (`prod/orders/db`) and read it at start-up.",
    "Pass `--manage-master-user-password` so RDS creates and rotates the password for you.",
    "Use `<your-password>` in the example and never commit the real one.",
    "The example access key `AKIAIOSFODNN7EXAMPLE` is safe to paste in docs.",
    # settings in backticks near a word that merely starts like "pass"
    "La requête passe par une passerelle NAT ; ajoutez `statement_timeout=30s` au DSN.",
    "Bypass the cache with `read_preference=primary` while you debug.",
]


@pytest.mark.parametrize("place", ["prose", "item", "footnote"])
@pytest.mark.parametrize("sentence", SECRETS)
def test_credentials_written_into_an_answer_block(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK, (sentence, place)
    assert verdict.categories == ("sensitive_data",)
    assert verdict.redacted_text.count("[REDACTED:sensitive_data]") >= 1


@pytest.mark.parametrize("sentence", NOT_SECRETS)
def test_references_placeholders_and_example_keys_pass(sentence: str) -> None:
    assert scan_output(answer_with(sentence, "prose")).action is GuardrailAction.ALLOW, sentence


def test_a_person_postal_address_is_redacted() -> None:
    text = answer_with("The failing item belongs to Ana Souza, Rua das Flores 120, 01310-100 São Paulo.", "footnote")
    verdict = scan_output(text)
    assert verdict.action is GuardrailAction.REDACT
    assert "Rua das Flores" not in verdict.redacted_text


def test_reserved_documentation_numbers_pass_in_answers_but_real_ones_are_redacted() -> None:
    assert scan_output(answer_with("Test with +1-555-0142 from the docs.", "prose")).action is GuardrailAction.ALLOW
    assert scan_output(answer_with("Call the owner on +1 415 867 2231.", "prose")).action is GuardrailAction.REDACT


@pytest.mark.parametrize(
    ("value", "generated"),
    [("Tq7#mLx29vKp", True), ("Zr8uQpL2mXw9TnB4", True), ("MyAppDbTable2024", False),
     ("NewStrongPassw0rd!", False), ("prod/db/master", False), ("abcdefghijkl", False), ("sg-0abc123DEF456", False),
     ("connect_timeout=5", False), ("max_pool_size=25", False),
     ("awsdms_validation_failures_v1", False), ("orders_2024_q3", False), ("kq7_Zp2x_Lm9w", True)],
)
def test_generated_values_are_told_from_names_and_examples(value: str, generated: bool) -> None:
    assert output_policies._generated(value, 10) is generated


# --- the fast path and the pure-Python path give the same verdict on whole answers -------


NOT_PII_IN_ANSWERS = [
    "Send the report to a role mailbox such as `platform-alerts@northwind-logistics.io`, not a person.",
    "aws sesv2 send-email --from-email-address billing@shop.northwind.io --destination ToAddresses=bounce@simulator.amazonses.com",
    "Subscribe `ops-oncall@yourdomain.com` to the SNS topic.",
    'psql "postgresql://app_user:REPLACE_ME@orders.cluster-abc123.eu-west-1.rds.amazonaws.com:5432/orders"',
    "Configure o remetente `vendas@minhaempresa.com.br` no SES.",
    "Die Rechnungen gehen an `buchhaltung@baeckerei-huber.de`.",
    "Gli avvisi di budget arrivano a `fatturazione@officina-rossi.it`.",
]
PERSONAL_EMAILS = [
    "The alarm currently notifies priya.raman1987@gmail.com directly.",
    "Bounces went to the private inbox of Jonas (jonas.keller@gmx.de).",
]


@pytest.mark.parametrize("sentence", NOT_PII_IN_ANSWERS)
def test_role_mailboxes_example_domains_and_url_userinfo_are_not_pii(sentence: str) -> None:
    assert scan_output(answer_with(sentence, "prose")).action is GuardrailAction.ALLOW, sentence


@pytest.mark.parametrize("sentence", PERSONAL_EMAILS)
def test_a_person_email_address_is_still_redacted(sentence: str) -> None:
    assert scan_output(answer_with(sentence, "prose")).action is GuardrailAction.REDACT, sentence


PII = [
    "The failing row is for Tomás Ruiz, date of birth 02/11/1979.",
    "Her passport no. K9031772 is in the object key.",
    "The intake sheet lists his passport number (K9031772, valid until 2030) next to the name.",
    "The failing item belongs to Ana Souza, Rua das Flores 120, 01310-100 São Paulo.",
    "Call the owner on +1 415 867 2231.",
]


def _composed() -> list[str]:
    sentences = (FUTURE_COMMITMENTS + FINE_NEIGHBOURS + DISPARAGEMENT + NEUTRAL_COMPARISONS + SECRETS + NOT_SECRETS
                 + PII + MORE_FUTURE_COMMITMENTS[::3] + MORE_DISPARAGEMENT[::3])
    texts = [answer_with(s, place) for s in sentences for place in _PLACES]
    # Long answers: the defect is far from the start, beyond any window around other hits.
    padding = ANSWER.format(**dict.fromkeys(_PLACES, "Next, check the soon-to-expire roadmap of your own app.")) * 20
    texts += [padding + s for s in sentences]
    return texts


def test_fast_path_whole_text_path_and_pure_python_agree_on_whole_answers() -> None:
    pure = guardrails.pure_python_scanner()
    for text in _composed():
        fast = guardrails._scan_output(text, True)
        assert fast == guardrails._scan_output(text, False), text[-200:]
        assert fast == pure.scan_output(text), text[-200:]


@pytest.mark.parametrize("sentence", [FUTURE_COMMITMENTS[0], DISPARAGEMENT[0], SECRETS[0]])
def test_a_defect_at_the_end_of_a_long_answer_is_found(sentence: str) -> None:
    text = answer_with(_NEUTRAL, "prose") * 60 + sentence
    assert len(text) > 40_000
    assert scan_output(text).action is GuardrailAction.BLOCK


def test_every_clause_rule_compiles() -> None:
    clause_specs = [r.spec for r in guardrails.SCANNER.engine.rules if r.spec.detector == "clause"]
    assert clause_specs
    for spec in clause_specs:
        rule = output_policies.clause_rule(spec)
        assert rule.head.pattern and rule.unit in ("clause", "sentence")


@pytest.mark.parametrize("sentence", PII[:3])
def test_birth_dates_and_identity_numbers_are_redacted(sentence: str) -> None:
    verdict = scan_output(answer_with(sentence, "item"))
    assert verdict.action is GuardrailAction.REDACT
    assert "1979" not in verdict.redacted_text and "K9031772" not in verdict.redacted_text


# --- comparison tables: the header names the provider of the cells below it ------------------

TABLE_ANSWER = """## Where to host the API

| | AWS App Runner | {provider} |
|---|---|---|
| Deploys from | ECR image or source | Git push |
| Scaling | Concurrency based | Request based |
| Pricing | Per vCPU-second and GB-second | {cell} |

Pick the one that matches your deployment model.
"""


@pytest.mark.parametrize(("provider", "cell"), [
    ("Render.com", "Predatory pricing that punishes you once traffic grows"),
    ("Heroku", "A neglected toy, fine for hobby projects only"),
    ("Scaleway", "Shady billing; steer clear"),
])
def test_a_pejorative_cell_under_a_provider_column_blocks(provider: str, cell: str) -> None:
    verdict = scan_output(TABLE_ANSWER.format(provider=provider, cell=cell))
    assert verdict.action is GuardrailAction.BLOCK and verdict.categories == ("competitor_disparagement",)


@pytest.mark.parametrize(("provider", "cell"), [
    ("Heroku", "Per dyno-hour, billed monthly"),
    ("Your current host", "A toy setup; move it into IaC first"),  # no provider in the header
])
def test_neutral_cells_and_columns_without_a_provider_pass(provider: str, cell: str) -> None:
    assert scan_output(TABLE_ANSWER.format(provider=provider, cell=cell)).action is GuardrailAction.ALLOW


def test_a_long_table_is_read_in_bounded_work_and_fast_and_slow_paths_agree() -> None:
    rows = "".join(f"| row {i} | fine | fine |\n" for i in range(3000))
    text = "| | AWS | Heroku |\n|---|---|---|\n" + rows + "| last | fine | a useless toy |\n"
    # past the per-answer cell budget the cell is judged only as a sentence (no provider in it)
    assert scan_output(text).action is GuardrailAction.ALLOW
    assert guardrails._scan_output(text, gated=False).action is scan_output(text).action
    short = "| | AWS | Heroku |\n|---|---|---|\n| last | fine | a useless toy |\n"
    assert scan_output(short).action is GuardrailAction.BLOCK


# --- by meaning, in several languages: new families of the second blind batch -----------------

MORE_COMMITMENTS = [
    "AWS is opening a Region in Greece in October, so you can move the data home then.",
    "The larger instance sizes launch in your Region next month.",
    "The RDS team is backporting the fix, and it will be available in three weeks.",
    "We'll treat the slowdown as an outage and apply a 10% credit to this month's bill.",
    "Your limit increase request is approved; the new value shows up shortly.",
    "Le correctif sera déployé dans deux semaines sur toutes les régions.",
    "La cuota será ampliada a 500 el mes que viene.",
    "Das Limit wird im Frühjahr auf 1.000 erhöht.",
    "O limite de conexões será aumentado no próximo ano.",
    "Vamos reembolsar a cobrança em duplicidade na próxima fatura.",
    "この機能は来月から利用できるようになります。",
]

MORE_DISPARAGEMENT = [
    "Contabo keeps losing customer backups, so I would not keep anything there.",
    "Honestly, Mailgun is a spam factory these days.",
    "Vultr got breached again; nobody should trust it with production data.",
    "Con Linode es carísimo para lo que ofrece.",
    "Chez Scaleway, c’est de l’arnaque pure et simple.",
    "Strato ist ein Billiganbieter, dessen Server ständig ausfallen.",
]

STILL_FINE = [
    "Cloudflare R2 has no egress fees; compare that with CloudFront's free tier before deciding.",
    "AWS Elastic Disaster Recovery can replicate the servers you run at Hetzner today.",
    "Ihr Zertifikat wird in wenigen Minuten verfügbar sein.",
    "Si el caso es aprobado, el abono aparecerá en la próxima factura.",
    "The feature became generally available on May 12, 2023.",
]


@pytest.mark.parametrize("place", ("prose", "cell", "footnote"))
@pytest.mark.parametrize("sentence", MORE_COMMITMENTS)
def test_more_commitments_block_in_any_language(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK and "future_commitment" in verdict.categories, sentence


@pytest.mark.parametrize("place", ("prose", "item", "footnote"))
@pytest.mark.parametrize("sentence", MORE_DISPARAGEMENT)
def test_more_disparagement_blocks_in_any_language(sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert verdict.action is GuardrailAction.BLOCK and verdict.categories == ("competitor_disparagement",), sentence


@pytest.mark.parametrize("sentence", STILL_FINE)
def test_neutral_sentences_near_the_new_families_pass(sentence: str) -> None:
    for place in _PLACES:
        assert scan_output(answer_with(sentence, place)).action is GuardrailAction.ALLOW, (sentence, place)


# --- passwords in code an answer explains are not written passwords ---------------------------

@pytest.mark.parametrize("snippet", [
    'client.initiate_auth(AuthParameters={"USERNAME": user, "PASSWORD": temporary_password})',
    "| `docker login -p` with a literal | Shows in the process list; use `--password-stdin` |",
    'Rotation needs a separate "admin" secret whose user can change the app user.',
    "```sql\nALTER ROLE etl_writer WITH PASSWORD :'etl_writer_pw';\n```",
    "Keep the SCIM token like a password: store it in your vault and rotate it yearly.",
])
def test_code_and_prose_around_password_flags_pass(snippet: str) -> None:
    assert scan_output(f"Here is how it works:\n\n{snippet}\n\nThat is all.").action is GuardrailAction.ALLOW


@pytest.mark.parametrize("snippet", [
    'client.initiate_auth(AuthParameters={"USERNAME": "ana", "PASSWORD": "Vq7#pLm2xR9t"})',
    "docker login -u ci -p Vq7pLm2xR9tZk registry.example.net",
    'Your new password is "Vq7#pLm2xR9t".',
    "```sql\nALTER ROLE etl_writer WITH PASSWORD 'Vq7#pLm2xR9t';\n```",
])
def test_written_passwords_still_block(snippet: str) -> None:
    verdict = scan_output(f"Here is how it works:\n\n{snippet}\n\nThat is all.")
    assert verdict.action is GuardrailAction.BLOCK and "sensitive_data" in verdict.categories


@pytest.mark.parametrize("sentence", [
    "Titular: Marta Gil, DNI **71625348-Z**, fecha de nacimiento **09/02/1988**.",
    "- Passport number: **ZK1048275**",
    "Prélèvement sur l’IBAN FR76 1234 5678 9012 3456 7890 123 au nom de M. Petit.",
    "Adresse : Paul Petit, 22 rue des Acacias, Bât. B, 31000 Toulouse.",
])
def test_personal_data_written_with_markdown_or_other_languages_is_redacted(sentence: str) -> None:
    verdict = scan_output(answer_with(sentence, "prose"))
    assert verdict.action is GuardrailAction.REDACT and verdict.categories == ("sensitive_data",), sentence


# --- Commitments and disparagement by kind, in every language the guide's authors write in
# (written from GUIDE §4 for h-output7, not taken from a golden set). Per language: a timed fix,
# a change stated as granted to the customer's account, a region or release announced for a
# coming period, a disparaging judgement; and its fine neighbours: how to request a credit,
# documented behaviour in the future tense, a refusal to speculate, a neutral comparison.
COMMITMENTS_BY_LANGUAGE = {
    "en": ["The S3 team will deploy the permanent fix by Friday, so these errors won't come back.",
           "Good news: I've gone ahead and raised your Lambda concurrency limit to 3,000.",
           "AWS is launching a Hanoi region early next year."],
    "es": ["El equipo de S3 desplegará la corrección definitiva antes del viernes.",
           "Ya hemos aumentado el límite de tu cuenta a 5.000.",
           "AWS abrirá una nueva región en Bogotá el próximo año."],
    "fr": ["Le correctif définitif sera déployé d'ici vendredi.",
           "AWS va prolonger votre offre gratuite de six mois supplémentaires.",
           "AWS ouvrira une nouvelle région à Lyon l'année prochaine."],
    "de": ["Die endgültige Korrektur wird bis Freitag ausgerollt.",
           "Das Limit Ihres Kontos wurde bereits auf 5.000 erhöht.",
           "AWS wird nächstes Jahr eine neue Region in Wien eröffnen."],
    "pt": ["A correção definitiva será implantada até sexta-feira.",
           "O limite da sua conta já foi aumentado para 5.000.",
           "A AWS vai lançar uma nova região em Lisboa no próximo ano."],
    "it": ["La correzione definitiva sarà rilasciata entro venerdì.",
           "Il limite del tuo account è già stato aumentato a 5.000.",
           "AWS aprirà una nuova regione a Roma il prossimo anno."],
    "nl": ["De wijziging wordt morgenochtend actief.",
           "De limiet voor uw account in eu-west-1 is inmiddels verhoogd naar 5.000.",
           "AWS gaat volgend jaar een nieuwe regio in Amsterdam openen."],
    "ja": ["この不具合は SDK チームが来週のリリースで修正することが決まっています。",
           "お客様のアカウントの上限を 5,000 に引き上げました。",
           "AWS は来年ハノイに新しいリージョンを開設する予定です。"],
    "zh": ["该问题将在下周的版本中修复。",
           "我已经为您的账户提高了并发限制。",
           "好消息是：AWS 将于明年第一季度在河内正式开放新的区域，届时您可以把应用部署在越南境内。"],
    "ko": ["이 버그는 다음 주 릴리스에서 수정될 예정입니다.",
           "고객님 계정의 한도가 5,000으로 상향되었습니다.",
           "AWS는 내년에 하노이 리전을 출시할 예정입니다."],
}
DISPARAGEMENT_BY_LANGUAGE = {
    "en": "You mentioned Backblaze B2 as the alternative. I'd steer clear: they're a discount shop that cuts corners everywhere.",
    "es": "Sinceramente, Azure es un desastre para producción.",
    "fr": "Honnêtement, OVH est une blague pour la production.",
    "de": "Ehrlich gesagt ist Cloudflare für einen Onlineshop Ihrer Größe keine ernsthafte Option.",
    "pt": "Sinceramente, a Azure é uma piada para produção.",
    "it": "Onestamente, Aruba Cloud è una barzelletta per la produzione.",
    "nl": "Eerlijk gezegd is Azure een ramp voor productie.",
    "ja": "正直に言うと、Azure は本番環境には使い物にならない。",
    "zh": "说实话，您早该离开阿里云了：他们的服务稳定性一直很差，数据安全更是没法让人放心。",
    "ko": "솔직히 말씀드리면 네이버 클라우드는 장애가 잦고 기술 지원도 형편없습니다.",
}
FINE_BY_LANGUAGE = {
    "en": ["To request a credit, open a billing case; the team decides case by case.",
           "S3 will replicate new objects once the rule is enabled.",
           "I can't share future plans; watch What's New.", "Azure Blob Storage has Hot, Cool, Cold and Archive tiers.",
           "On the question of whether AWS plans to raise the payload limit: there is no public date."],
    "es": ["Para solicitar un crédito, abre un caso de facturación.", "S3 replicará los objetos nuevos cuando actives la regla.",
           "No puedo compartir planes futuros; consulta What's New.", "Azure ofrece niveles Hot, Cool y Archive."],
    "fr": ["Pour demander un avoir, ouvrez un dossier de facturation.", "S3 répliquera les nouveaux objets une fois la règle activée.",
           "Je ne peux pas partager de plans futurs ; consultez What's New.", "Azure propose les niveaux Hot, Cool et Archive."],
    "de": ["Eine Gutschrift beantragen Sie über einen Abrechnungsfall.", "S3 repliziert neue Objekte, sobald die Regel aktiv ist.",
           "Ich kann keine Zukunftspläne nennen; siehe What's New.", "Ihr Team wird die Änderung bis Freitag ausrollen."],
    "pt": ["Para pedir um crédito, abra um caso de faturamento.", "Não posso compartilhar planos futuros; veja o What's New.",
           "A política será aplicada até você removê-la."],
    "it": ["Per richiedere un credito, apri un caso di fatturazione.", "Non posso condividere piani futuri; consulta What's New.",
           "Se la richiesta viene approvata, il limite del tuo account sarà aumentato."],
    "nl": ["Een creditering vraagt u aan via een factureringszaak.", "S3 repliceert nieuwe objecten zodra de regel actief is.",
           "Uw certificaat wordt volgende maand automatisch verlengd als het DNS-record blijft staan.",
           "Als uw aanvraag wordt goedgekeurd, wordt de limiet verhoogd."],
    "ja": ["クレジットを申請するには、請求に関するケースを作成してください。", "今後の計画についてはお伝えできません。What's New をご確認ください。",
           "申請が承認された場合、上限が引き上げられます。"],
    "zh": ["如需申请抵扣，请提交账单支持案例。", "启用规则后，S3 会复制新对象。", "我无法透露未来计划，请关注 What's New。",
           "阿里云 OSS 支持 S3 兼容 API，他们的文档里有迁移说明。"],
    "ko": ["크레딧을 요청하려면 결제 지원 케이스를 여세요.", "향후 계획은 말씀드릴 수 없습니다. What's New를 확인하세요.",
           "네이버 클라우드 Object Storage는 S3 호환 API를 제공합니다.", "승인되면 한도가 상향됩니다."],
}


@pytest.mark.parametrize("place", ["prose", "item"])
@pytest.mark.parametrize(("language", "sentence"),
                         [(lang, s) for lang, sentences in COMMITMENTS_BY_LANGUAGE.items() for s in sentences])
def test_commitments_block_in_every_language(language: str, sentence: str, place: str) -> None:
    verdict = scan_output(answer_with(sentence, place))
    assert "future_commitment" in verdict.categories, (language, sentence, place)


@pytest.mark.parametrize(("language", "sentence"), sorted(DISPARAGEMENT_BY_LANGUAGE.items()))
def test_disparagement_blocks_in_every_language(language: str, sentence: str) -> None:
    verdict = scan_output(answer_with(sentence, "prose"))
    assert verdict.categories == ("competitor_disparagement",), (language, sentence)


@pytest.mark.parametrize(("language", "sentence"),
                         [(lang, s) for lang, sentences in FINE_BY_LANGUAGE.items() for s in sentences])
def test_requests_documented_futures_and_refusals_pass_in_every_language(language: str, sentence: str) -> None:
    assert scan_output(answer_with(sentence, "prose")).action is GuardrailAction.ALLOW, (language, sentence)


def test_clause_params_are_folded_like_the_matching_view() -> None:
    # The matching view drops Japanese voicing marks ("げ" is seen as "け"): a term written as it
    # reads must match; before, a clause-rule term with a voicing mark could never match.
    from pipeline.domain.textnorm import normalize

    view = normalize("上限は来年引き上げられる見込みです。").text
    assert output_policies._pattern("引き上げられ").search(view)
    assert output_policies._pattern(["決まって", "引き上げられ"]).search(view)


def test_an_abbreviation_ends_no_sentence() -> None:
    from pipeline.domain.guardrails import clauses

    for text in ("MongoDB Inc. lebt davon.", "Use a managed store, e.g. DynamoDB.", "Nutzen Sie z.B. S3."):
        starts, _ends = clauses.sentence_spans(text)
        assert len(starts) == 1, text
    assert len(clauses.sentence_spans("It works. Then stop.")[0]) == 2


# --- a comma before a conjunction starts a clause in every language ----------------------------

@pytest.mark.parametrize("sentence", [
    "El equipo de facturación le anulará el recargo de octubre, ya que se trató de un fallo de la consola.",
    "Il team di fatturazione le rimborserà la quota di ottobre, dato che si tratta di un errore della console.",
])
def test_a_word_of_the_next_clause_does_not_cancel_a_promise(sentence: str) -> None:
    # "se" / "si" are "if" in one language and a pronoun in another: they belong to the
    # clause after the conjunction, not to the promise before it
    verdict = scan_output(answer_with(sentence, "prose"))
    assert "future_commitment" in verdict.categories, sentence


def test_a_comma_before_an_article_does_not_cut_a_time_from_its_change() -> None:
    from pipeline.domain.guardrails import clauses

    sentence = "No próximo trimestre, o limite será aumentado para 500."
    assert clauses.clauses(sentence) == [(0, len(sentence))]
