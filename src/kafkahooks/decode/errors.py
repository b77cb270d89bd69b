"""Why a record cannot be read.  Every ``DecodeError`` is a poison record:
it is dead-lettered and the stream goes on.  ``RegistryUnavailableError`` is
not about the record, so it stops the bridge instead of dead-lettering.

The class name is what lands in the ``kafkahooks.error.class`` header.  Both
bases sit in the one tree of :mod:`kafkahooks.errors`.
"""

from __future__ import annotations

from kafkahooks.errors import HaltError, KafkahooksError

__all__ = [
    "DecodeError",
    "RegistryUnavailableError",
    "SchemaMismatchError",
    "UnknownSchemaError",
    "ValueTooLargeError",
    "WireFormatError",
]


class DecodeError(KafkahooksError, ValueError):
    """The record's value (or key) cannot be decoded; it goes to the dead-letter topic."""


class WireFormatError(DecodeError):
    """Not the Confluent wire format (magic byte 0, 4-byte schema id, body)."""


class UnknownSchemaError(DecodeError):
    """The registry does not know the record's schema id."""


class SchemaMismatchError(DecodeError):
    """The bytes do not decode with the writer schema (or do not resolve to the reader)."""


class ValueTooLargeError(DecodeError):
    """The value is over the source's ``max_value_bytes``; it is dead-lettered without body."""


class RegistryUnavailableError(HaltError):
    """The schema registry cannot be asked (down, 5xx, auth): not the record's fault.

    The bridge stops (a :class:`~kafkahooks.errors.HaltError`): the record stays unfinished.
    """
