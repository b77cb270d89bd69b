"""Kafka record bytes → :class:`~kafkahooks.event.Event`."""

from kafkahooks.decode.json_codec import DecodeError, decode_json

__all__ = ["DecodeError", "decode_json"]
