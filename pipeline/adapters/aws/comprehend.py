"""ComprehendNlp: the NlpClient backed by Amazon Comprehend.

The client is injected (build it with :func:`make_comprehend_client`); this adapter only
translates:

- one text → ``DetectSentiment``, ``DetectEntities`` and ``DetectKeyPhrases``;
- the text is truncated on a UTF-8 character boundary to each operation's byte limit
  (5,000 bytes for sentiment, 100,000 bytes for entities and key phrases), so a long
  pasted log never fails the request;
- Comprehend's generic entities become :class:`~pipeline.domain.models.Entity` records;
  an entity whose text is an AWS service name a customer would write ("EC2", "S3
  bucket", "Lambda") is typed ``AWS_SERVICE`` (Comprehend calls them ORGANIZATION,
  COMMERCIAL_ITEM or OTHER), which is the type the intent detector reads;
- errors → :class:`NlpError`: throttling, internal and unavailable errors and network
  timeouts are ``transient`` (the Step Functions task retries); anything else is not.

Example:
    >>> nlp = ComprehendNlp(make_comprehend_client("us-east-1"))    # doctest: +SKIP
    >>> nlp.analyze("my EC2 instance will not start").sentiment     # doctest: +SKIP
    'NEGATIVE'
"""

from __future__ import annotations

from typing import Any

from pipeline.adapters.local.offline_nlp import CUSTOMER_SERVICE_NAMES
from pipeline.domain.models import Entity, NlpAnalysis
from pipeline.ports import NlpError

#: Comprehend's documented maximum text size per synchronous call, in UTF-8 bytes.
SENTIMENT_MAX_BYTES = 5_000
ENTITIES_MAX_BYTES = 100_000
KEY_PHRASES_MAX_BYTES = 100_000

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "InternalServerException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_TRANSIENT_EXCEPTION_NAMES = frozenset(
    {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError"}
)
_SENTIMENT_KEYS = {
    "Positive": "POSITIVE",
    "Negative": "NEGATIVE",
    "Neutral": "NEUTRAL",
    "Mixed": "MIXED",
}
_SERVICE_NAMES = {surface.lower(): name for surface, name in CUSTOMER_SERVICE_NAMES.items()}


def make_comprehend_client(region: str, *, max_attempts: int = 3, read_timeout: float = 5.0) -> Any:
    """Build a ``comprehend`` client with standard retries and short timeouts.

    boto3 is imported here so that importing this module stays cheap.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        read_timeout=read_timeout,
        connect_timeout=2.0,
    )
    return boto3.client("comprehend", config=config)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes``."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


class ComprehendNlp:
    """Sentiment, entities and key phrases from Amazon Comprehend (implements NlpClient).

    Args:
        client: A boto3 ``comprehend`` client (or a stubbed one in tests).
        language_code: The language of the texts (Comprehend needs it for every call).
    """

    def __init__(self, client: Any, *, language_code: str = "en") -> None:
        self._client = client
        self._language = language_code

    def analyze(self, text: str) -> NlpAnalysis:
        """Analyse one text with three Comprehend calls.

        Args:
            text: The (redacted) message. Empty text gives a neutral analysis without
                calling Comprehend (which rejects empty input).

        Returns:
            An :class:`NlpAnalysis`.

        Raises:
            NlpError: Comprehend failed; ``transient`` says whether a retry may help.
        """
        if not text.strip():
            return NlpAnalysis(sentiment="NEUTRAL", sentiment_scores={"NEUTRAL": 1.0})
        sentiment = self._call("detect_sentiment", Text=truncate_utf8(text, SENTIMENT_MAX_BYTES))
        entities = self._call("detect_entities", Text=truncate_utf8(text, ENTITIES_MAX_BYTES))
        phrases = self._call("detect_key_phrases", Text=truncate_utf8(text, KEY_PHRASES_MAX_BYTES))
        scores = {
            _SENTIMENT_KEYS[key]: float(value)
            for key, value in sentiment.get("SentimentScore", {}).items()
            if key in _SENTIMENT_KEYS
        }
        return NlpAnalysis(
            sentiment=str(sentiment.get("Sentiment", "NEUTRAL")),
            sentiment_scores=scores,
            entities=tuple(_to_entity(e) for e in entities.get("Entities", ())),
            key_phrases=tuple(
                dict.fromkeys(p["Text"] for p in phrases.get("KeyPhrases", ()) if p.get("Text"))
            ),
        )

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, operation)(LanguageCode=self._language, **params)
        except Exception as exc:  # botocore raises ClientError and connection errors
            raise _to_nlp_error(operation, exc) from exc


def _to_entity(raw: dict[str, Any]) -> Entity:
    text = str(raw.get("Text", ""))
    kind = str(raw.get("Type", "OTHER"))
    service = _SERVICE_NAMES.get(" ".join(text.lower().split()))
    if service is not None:
        return Entity(text=service, type="AWS_SERVICE", score=float(raw.get("Score", 1.0)))
    return Entity(text=text, type=kind, score=float(raw.get("Score", 1.0)))


def _to_nlp_error(operation: str, exc: Exception) -> NlpError:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        transient = code in TRANSIENT_ERROR_CODES or status >= 500
        return NlpError(
            f"Comprehend {operation} failed: {code}: {message}", transient=transient, code=code
        )
    name = type(exc).__name__
    return NlpError(
        f"Comprehend {operation} failed: {name}: {exc}",
        transient=name in _TRANSIENT_EXCEPTION_NAMES,
        code=name,
    )
