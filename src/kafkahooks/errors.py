"""The one exception tree: every error kafkahooks raises on purpose derives from
:class:`KafkahooksError`, and the conditions that stop the bridge from :class:`HaltError`.

::

    KafkahooksError
    ├── ConfigError                   config/loader.py   the routes file is invalid (exit 2)
    ├── DecodeError (ValueError)      decode/errors.py   a poison record: dead-lettered
    ├── DeliveryError                 delivery/errors.py an attempt failed: retried, parked
    │                                                    or dead-lettered
    ├── ParkedRecordError             engine/parking.py  a parked record that can no longer
    │                                                    be retried: dead-lettered
    ├── StoreError                    kafka/storelog.py  the store topic cannot be used
    │   ├── StoreTopicError                                missing, partitioned or not compacted
    │   ├── StoreUnavailableError                          not read to its end in time
    │   └── StoreWriteError                                a write not acknowledged
    └── HaltError                     stop, skip nothing (exit 1)
        ├── RegistryUnavailableError  decode/errors.py   the schema registry cannot be asked
        ├── DeadLetterWriteError      delivery/errors.py the broker did not take a dead letter
        │                                                or a parked event
        └── DeadLetterLimitExceeded   engine/dlqlimit.py too many dead letters in a row

Each class keeps the module where it is raised; this module only holds the two
bases, so every layer may import it.

A :class:`HaltError` is never an event's outcome.  The event it concerns stays
unfinished, so no commit passes it; the bridge stops and exits 1.  Stopping is
done in one place, :class:`kafkahooks.engine.halt.Halt`.
"""

from __future__ import annotations

__all__ = ["HaltError", "KafkahooksError"]


class KafkahooksError(Exception):
    """The root of every error kafkahooks raises on purpose."""


class HaltError(KafkahooksError):
    """Stop, skip nothing: progress is impossible without losing an event.

    The event stays unfinished (no commit passes it), the bridge stops taking
    records and exits 1 naming the cause; a restart retries from the last commit.
    """
