"""The embedded demo: a local broker, a verifying receiver, sample traffic."""

from kafkahooks.demo.run import run_demo

__all__ = [
    "run_demo",
]
