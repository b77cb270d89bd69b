"""The embedded demo: a local broker, a verifying receiver, sample traffic."""
