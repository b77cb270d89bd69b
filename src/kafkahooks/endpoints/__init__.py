"""Customer endpoints: records, their encryption at rest, and the index by tenant.

Pure data and logic: nothing here talks to Kafka (``kafka/`` reads and writes the
store topic as bytes) or sends a request (``delivery/`` does).
"""

from kafkahooks.endpoints.endpoint import Endpoint, EndpointDirectory, SigningSecret, origin_of
from kafkahooks.endpoints.memory import MemoryDirectory, endpoint_from_json, load_endpoints_file

__all__ = [
    "Endpoint",
    "EndpointDirectory",
    "MemoryDirectory",
    "SigningSecret",
    "endpoint_from_json",
    "load_endpoints_file",
    "origin_of",
]
