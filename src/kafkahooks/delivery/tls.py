"""A route's TLS client context: its own CA bundle and/or a client certificate (mTLS)."""

from __future__ import annotations

import ssl

from kafkahooks.config.endpoint import TlsConfig

__all__ = ["ssl_context"]


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
    return context
