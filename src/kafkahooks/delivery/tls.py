"""A route's TLS client context: its own CA bundle and/or a client certificate (mTLS).

Invariant: two contexts built from the same settings and the same file contents
have the same :func:`context_key`.  The HTTP client keys its connection pools by
it, so a reload, which builds every route's context anew, finds the pool (and
the open connections) of the context it replaces instead of leaving it behind.
"""

from __future__ import annotations

import hashlib
import ssl
import weakref
from collections.abc import Hashable
from pathlib import Path

from kafkahooks.config import TlsConfig

__all__ = ["context_key", "ssl_context"]

_KEYS: weakref.WeakKeyDictionary[ssl.SSLContext, str] = weakref.WeakKeyDictionary()


def ssl_context(config: TlsConfig | None) -> ssl.SSLContext | None:
    """``None``: the client's default (system trust store, no client certificate)."""
    if config is None:
        return None
    ca = None if config.ca_bundle is None else str(config.ca_bundle)
    context = ssl.create_default_context(cafile=ca)  # with a bundle: trust only that bundle
    if config.client_cert is not None:
        password = config.client_key_password
        context.load_cert_chain(
            str(config.client_cert),
            None if config.client_key is None else str(config.client_key),
            None if password is None else password.get_secret_value(),
        )
    _KEYS[context] = _fingerprint(config)
    return context


def _fingerprint(config: TlsConfig) -> str:
    """A digest of the files' contents and the key password (never kept in clear)."""
    digest = hashlib.sha256()
    for path in (config.ca_bundle, config.client_cert, config.client_key):
        digest.update(b"-" if path is None else hashlib.sha256(Path(path).read_bytes()).digest())
    password = config.client_key_password
    if password is not None:
        digest.update(hashlib.sha256(password.get_secret_value().encode()).digest())
    return digest.hexdigest()


def context_key(context: ssl.SSLContext) -> Hashable:
    """What the context's connections are keyed by: its settings' digest when
    :func:`ssl_context` built it, else the context itself."""
    return _KEYS.get(context, context)
