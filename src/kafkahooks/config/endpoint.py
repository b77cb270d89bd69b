"""Route options for the receiving end: URL, headers, body shape, auth, TLS, signing.

Everything a product's webhook contract names (header names, signed content,
auth, body format) is spelled out here, so a routes file reproduces it
without code.  Secrets are ``SecretStr`` from the moment they are parsed, and
no ``repr`` shows one (nor an ``authorization`` value, nor a URL's secret parts).

Header rules, checked at load: a name is a whole RFC 9110 token; a static value
holds no line break, NUL or other control character (it would fail every event);
names compare case-insensitively, so a per-event header can never be one that
kafkahooks, the signature or the transport sets (it would be sent first, twice).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from kafkahooks.config.urls import MASK, check_target_url, shown_url

__all__ = [
    "RESERVED_HEADERS",
    "SIGNATURE_HEADERS",
    "SIGNING_PRESETS",
    "AuthConfig",
    "BasicAuth",
    "BearerAuth",
    "EndpointConfig",
    "ForwardHeaders",
    "NoAuth",
    "OAuth2Auth",
    "SigningConfig",
    "TlsConfig",
    "check_static_headers",
]

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # full matches only
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
# a control character other than HTAB (CR, LF and NUL among them), DEL, or a lone
# surrogate (undecodable bytes in an environment variable): no header can carry one
_BAD_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Set by kafkahooks itself (the event id, the batch size, the signature scheme's
# headers, the payload version) or by the HTTP client (message framing, hop-by-hop);
# a per-event value must never set them.  Lower case: names compare case-insensitively.
KAFKAHOOKS_HEADERS = frozenset({
    "webhook-id", "webhook-timestamp", "webhook-signature", "webhook-batch-size",
    "webhook-payload-version",
})
TRANSPORT_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
    "trailer", "upgrade", "expect", "proxy-authorization", "proxy-connection",
})
RESERVED_HEADERS = KAFKAHOOKS_HEADERS | TRANSPORT_HEADERS | {
    "content-type", "authorization", "user-agent"}
# Static headers kafkahooks also sets (in lower case): written in lower case too, so a
# configured value replaces kafkahooks' instead of going out next to it.
_OVERRIDABLE = frozenset(
    {"content-type", "user-agent", "authorization", "webhook-payload-version"})
# header values a repr may never show
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_header_names(names: Any) -> None:
    for name in names:
        if not _HEADER_NAME.fullmatch(name):  # .match with "$" let "x-a\n" through
            raise ValueError(f"{name!r} is not a valid HTTP header name")


def _check_header_values(values: dict[str, str]) -> None:
    for name, value in values.items():
        if _BAD_TEXT.search(value):
            raise ValueError(f"header {name}: the value holds a line break, NUL, other "
                             "control character or invalid text (never repeated here)")


def _text(value: SecretStr, what: str) -> SecretStr:
    """A secret must be text UTF-8 can carry (``${VAR}`` of undecodable bytes is not)."""
    if _SURROGATE.search(value.get_secret_value()):
        raise ValueError(f"{what} is not valid text (undecodable bytes in its variable?)")
    return value


def _http_url(value: str) -> str:
    return check_target_url(value)


# -- signing ------------------------------------------------------------------

SIGNING_PRESETS: dict[str, dict[str, Any]] = {
    # x-signature: hex HMAC-SHA256 of the raw body
    "auvious": {"scheme": "hmac-sha256", "header": "x-signature", "encoding": "hex"},
    "outrival": {"scheme": "hmac-sha256", "header": "x-signature", "encoding": "hex"},
    "avoma": {"scheme": "hmac-sha256", "header": "X-Avoma-Signature", "encoding": "hex"},
    # hex HMAC-SHA256 of "{timestamp}.{body}", unix seconds in x-audian-timestamp
    "audian": {
        "scheme": "timestamped",
        "header": "x-audian-signature",
        "timestamp_header": "x-audian-timestamp",
        "encoding": "hex",
    },
    "github": {
        "scheme": "hmac-sha256", "header": "X-Hub-Signature-256", "prefix": "sha256=",
        "encoding": "hex",
    },
}


SIGNING_SCHEMES = ("hmac-sha256", "timestamped", "standard-webhooks", "t-v1")


def _whsec_valid(secret: str) -> bool:
    try:
        return bool(base64.b64decode(secret.removeprefix("whsec_"), validate=True))
    except (binascii.Error, ValueError):
        return False


class SigningConfig(_Strict):
    """HMAC-SHA256 over the exact body bytes that are sent.

    ``hmac-sha256``: signature of the body in ``header``.
    ``timestamped``: signature of ``"{timestamp}.{body}"`` plus ``timestamp_header``.
    ``standard-webhooks``: the Standard Webhooks headers (``webhook-*``).
    ``t-v1``: one header ``t=<ts>,v1=<sig>[,v1=<sig>]``.

    A product name (``audian``, ``avoma``, ``auvious``, ``outrival``, ``github``)
    is a preset: it fills in the scheme, header names and encoding, and any
    option given next to it wins.
    """

    scheme: Literal["hmac-sha256", "timestamped", "standard-webhooks", "t-v1"] = "hmac-sha256"
    preset: str | None = None
    # required on a route with a fixed endpoint, absent with ``endpoints:`` (each customer
    # endpoint has its own secrets): the route checks which (config/models.py)
    secrets: list[SecretStr] = Field(default_factory=list)
    header: str | None = None
    timestamp_header: str | None = None
    rotation_header: str | None = None
    encoding: Literal["hex", "base64"] | None = None
    prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "secret" in data:
            if "secrets" in data:
                raise ValueError("give either 'secret' or 'secrets', not both")
            data["secrets"] = [data.pop("secret")]
        preset = SIGNING_PRESETS.get(str(data.get("scheme", "")).lower())
        if preset is None and "scheme" in data and data["scheme"] not in SIGNING_SCHEMES:
            raise ValueError(
                f"scheme {data['scheme']!r} is neither a signing scheme "
                f"({', '.join(SIGNING_SCHEMES)}) "
                f"nor a preset ({', '.join(sorted(SIGNING_PRESETS))})"
            )
        if preset is not None:
            data = {**preset, **{k: v for k, v in data.items() if k != "scheme"},
                    "preset": str(data["scheme"]).lower()}
        return data

    @field_validator("secrets")
    @classmethod
    def _non_empty(cls, value: list[SecretStr]) -> list[SecretStr]:
        # An empty *older* secret is dropped, so ``${WEBHOOK_SECRET_PREVIOUS:-}`` can
        # stay in a routes file between rotations; the primary must be set.
        if not value:
            raise ValueError("the secrets list is empty: give at least one secret")
        if not value[0].get_secret_value():
            raise ValueError("the signing secret is empty (is its environment variable set?)")
        return [s for s in value if s.get_secret_value()]

    @field_validator("secrets")
    @classmethod
    def _valid_text(cls, value: list[SecretStr]) -> list[SecretStr]:
        return [_text(s, "a signing secret") for s in value]

    def header_names(self) -> set[str]:
        """Every header the signer may set, lower case (the defaults are those of
        ``delivery/signing.py``)."""
        std = self.scheme in ("standard-webhooks", "t-v1")
        header = (self.header or ("webhook-signature" if std else "x-signature")).lower()
        names = {header, (self.rotation_header or f"{header}-rotated").lower()}
        if self.timestamp_header or self.scheme == "timestamped":
            names.add((self.timestamp_header or "x-signature-timestamp").lower())
        return names

    @model_validator(mode="after")
    def _fits_scheme(self) -> SigningConfig:
        names = [n for n in (self.header, self.timestamp_header, self.rotation_header) if n]
        _check_header_names(names)
        if self.scheme == "standard-webhooks":
            if any(not _whsec_valid(s.get_secret_value()) for s in self.secrets):
                raise ValueError("standard-webhooks secrets are 'whsec_' + base64 "
                                 "(kafkahooks secret generate --format whsec)")
            if self.encoding == "hex" or self.prefix or self.timestamp_header:
                raise ValueError("standard-webhooks fixes encoding, prefix and timestamp header")
        if self.scheme == "t-v1" and (self.prefix or self.timestamp_header):
            raise ValueError("t-v1 carries the timestamp in its one header: no prefix or "
                             "timestamp_header")
        if self.scheme != "timestamped" and self.scheme != "hmac-sha256" and self.rotation_header:
            raise ValueError(f"{self.scheme} lists every signature in its own header; "
                             "rotation_header is for single-signature schemes")
        return self


# -- auth ----------------------------------------------------------------------


class NoAuth(_Strict):
    type: Literal["none"] = "none"


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if ":" in value or _BAD_TEXT.search(value):
            raise ValueError("holds a colon, a control character or invalid text")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        return _text(value, "the password")


class BearerAuth(_Strict):
    type: Literal["bearer"]
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _non_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("the bearer token is empty (is its environment variable set?)")
        if _BAD_TEXT.search(value.get_secret_value()):
            raise ValueError("the bearer token holds a line break, control character or "
                             "invalid text")
        return value


class OAuth2Auth(_Strict):
    """OAuth2 client credentials: one token per route, cached until shortly before expiry."""

    type: Literal["oauth2"]
    token_url: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scope: str | None = None
    audience: str | None = None
    # RFC 6749 §2.3.1: servers must accept HTTP Basic; some want the form fields instead.
    client_auth: Literal["basic", "post"] = "basic"
    # sent in the token request's form; secrets as much as client_secret is
    extra_params: dict[str, SecretStr] = Field(default_factory=dict)
    refresh_margin: float = Field(default=30.0, ge=0, description="renew this long before expiry")
    # the whole token request: connect, send, answer
    timeout: float = Field(default=10.0, gt=0, le=120)
    ca_bundle: FilePath | None = None

    _url = field_validator("token_url")(_http_url)

    @field_validator("client_secret")
    @classmethod
    def _secret_text(cls, value: SecretStr) -> SecretStr:
        return _text(value, "the client secret")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (shown_url(value) if name == "token_url" else value)


AuthConfig = Annotated[NoAuth | BasicAuth | BearerAuth | OAuth2Auth, Field(discriminator="type")]


# -- TLS and headers -------------------------------------------------------------


class TlsConfig(_Strict):
    """Trust only ``ca_bundle`` (instead of the system store) and/or present a client cert."""

    ca_bundle: FilePath | None = None
    client_cert: FilePath | None = None
    client_key: FilePath | None = None
    client_key_password: SecretStr | None = None

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if (self.client_key or self.client_key_password) and not self.client_cert:
            raise ValueError("client_key needs client_cert")
        return self


class ForwardHeaders(_Strict):
    """Copy allow-listed headers carried on the event into the request.

    ``source: headers`` reads the Kafka message headers; a ``value.<path>``
    names a map inside the event (e.g. an appointment's notification headers).
    """

    source: str = "headers"
    allow: list[str] = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if value != "headers" and not value.startswith("value."):
            raise ValueError("use 'headers' (Kafka message headers) or a value.<path> to a map")
        return value

    @field_validator("allow")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        _check_header_names(value)
        reserved = RESERVED_HEADERS.intersection(v.lower() for v in value)
        if reserved:
            raise ValueError(f"{sorted(reserved)} cannot be forwarded from events")
        return value


class EndpointConfig(_Strict):
    url: str = Field(min_length=1)
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    timeout: float = Field(default=30.0, gt=0, le=600)
    # json | form (application/x-www-form-urlencoded) | xml.  GET sends the
    # rendered template as query parameters and has no body.
    format: Literal["json", "form", "xml"] = "json"
    xml_root: str = "webhook"
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)
    # header name → template string, rendered per event (missing → header left out)
    dynamic_headers: dict[str, str] = Field(default_factory=dict)
    forward_headers: ForwardHeaders | None = None
    auth: AuthConfig = Field(default_factory=NoAuth)
    tls: TlsConfig | None = None
    # Transport safety: https only and public addresses only, unless opted out.
    allow_insecure: bool = False
    allow_private: bool = False

    # which characters of ``url`` came from a ${VAR} (set by the loader), for printing
    _url_from_vars: tuple[bool, ...] | None = PrivateAttr(default=None)

    _url = field_validator("url")(_http_url)

    @field_validator("headers", "secret_headers")
    @classmethod
    def _static_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_header_names(value)
        ours = (KAFKAHOOKS_HEADERS - _OVERRIDABLE).intersection(k.lower() for k in value)
        if ours:
            raise ValueError(f"{sorted(ours)} are set by kafkahooks")
        lowered = {k.lower() for k in value}
        if len(lowered) != len(value):
            raise ValueError("a header is named twice (names compare case-insensitively)")
        _check_header_values({k: v if isinstance(v, str) else v.get_secret_value()
                              for k, v in value.items()})
        return {(k.lower() if k.lower() in _OVERRIDABLE else k): v for k, v in value.items()}

    @field_validator("dynamic_headers")
    @classmethod
    def _dynamic_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_header_names(value)
        reserved = RESERVED_HEADERS.intersection(k.lower() for k in value)
        if reserved:
            raise ValueError(f"{sorted(reserved)} cannot be set per event")
        return value

    @property
    def shown_url(self) -> str:
        """``url`` as kafkahooks prints it: secret parts masked (config/urls.py)."""
        return shown_url(self.url, self._url_from_vars)

    def shown(self, url: str) -> str:
        """A request URL built on ``url`` (a GET payload appended), as printed."""
        if url.startswith(self.url):
            return self.shown_url + url[len(self.url):]
        return shown_url(url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "url":
                value = self.shown_url
            elif name == "headers":
                value = {k: (MASK if k.lower() in _CREDENTIAL_HEADERS else v)
                         for k, v in value.items()}
            yield name, value

    @field_validator("xml_root")
    @classmethod
    def _xml_root(cls, value: str) -> str:
        if not _XML_NAME.match(value):
            raise ValueError(f"{value!r} is not an XML element name")
        return value

    @model_validator(mode="after")
    def _auth_header_once(self) -> EndpointConfig:
        static = self.static_names()
        if len(static) != len(self.headers) + len(self.secret_headers):
            raise ValueError("a header is in both headers and secret_headers")
        if self.auth.type != "none" and "authorization" in static:
            raise ValueError("authorization is set both by auth and by a header; keep one")
        return self

    def static_names(self) -> set[str]:
        """The names ``headers`` and ``secret_headers`` set, lower case."""
        return {k.lower() for k in (*self.headers, *self.secret_headers)}

    def per_event_names(self) -> set[str]:
        """The names an event may set (dynamic and forwarded headers), lower case."""
        names = {k.lower() for k in self.dynamic_headers}
        if self.forward_headers is not None:
            names |= {k.lower() for k in self.forward_headers.allow}
        return names


# -- header rules for callers outside the routes file (a tenant endpoint's headers) --------


def _signature_headers() -> frozenset[str]:
    names: set[str] = set()
    for scheme in (*SIGNING_SCHEMES, *SIGNING_PRESETS):
        config = {"scheme": scheme, "secret": "whsec_eA=="}  # any valid secret
        names |= SigningConfig.model_validate(config).header_names()
    return frozenset(names)


# every header a signing scheme or preset sets with its default names, lower case
SIGNATURE_HEADERS = _signature_headers()


def check_static_headers(values: Mapping[str, str], refused: Collection[str]) -> None:
    """The rules of a route's static headers, for any set of them: each name an RFC 9110
    token, named once (case-insensitively), none in ``refused`` (lower case); no value
    holding a line break, NUL or another control character.  The ``ValueError`` names
    the header, never its value."""
    _check_header_names(values)
    lowered = [name.lower() for name in values]
    if len(set(lowered)) != len(lowered):
        raise ValueError("a header is named twice (names compare case-insensitively)")
    taken = sorted(set(lowered).intersection(refused))
    if taken:
        raise ValueError(f"{taken} are set by kafkahooks, the signature or the HTTP transport")
    _check_header_values(dict(values))
