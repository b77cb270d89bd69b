"""Customer endpoints: records, their encryption at rest, and the index by tenant.

Pure data and logic: nothing here talks to Kafka (``kafka/`` reads and writes the
store topic as bytes) or sends a request (``delivery/`` does).

A lazy door (``kafkahooks/lazy.py``): ``render`` and ``check`` do not import the
store's metrics or its cipher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkahooks.lazy import lazy_door

if TYPE_CHECKING:
    from kafkahooks.endpoints.crypto import (
        Keyring,
        Sealed,
        generate_key_spec,
    )
    from kafkahooks.endpoints.directory import (
        EndpointDirectory,
    )
    from kafkahooks.endpoints.endpoint import (
        Endpoint,
        SigningSecret,
        origin_of,
    )
    from kafkahooks.endpoints.errors import (
        EndpointLimitError,
        MissingKeyError,
        StoreRecordError,
    )
    from kafkahooks.endpoints.health import (
        DEFAULT_PERIOD,
        EndpointHealth,
        HealthObserver,
        HealthWork,
        decide,
    )
    from kafkahooks.endpoints.ids import (
        ENDPOINT_ID_PREFIX,
        is_endpoint_id,
        new_endpoint_id,
    )
    from kafkahooks.endpoints.memory import (
        MemoryDirectory,
    )
    from kafkahooks.endpoints.records import (
        MAX_RECORD_BYTES,
        RECORD_ADAPTER,
        RECORD_VERSION,
        decode_endpoint,
        encode_endpoint,
        record_json_schema,
    )
    from kafkahooks.endpoints.recover import (
        RECOVER_PREFIX,
        STALE_AFTER,
        RecoverJob,
        encode_job,
        parse_job,
        recover_key,
    )
    from kafkahooks.endpoints.spec import (
        LIMITS,
        EndpointSpec,
        check_endpoint_url,
        create_endpoint,
        describe_endpoint,
        endpoint_health,
        new_signing_secret,
        rotate_secret,
        set_active,
        spec_of,
        update_endpoint,
    )
    from kafkahooks.endpoints.status import (
        STATUS_PREFIX,
        Disable,
        EndpointStatus,
        encode_status,
        status_json_schema,
        status_key,
    )
    from kafkahooks.endpoints.table import (
        EndpointTable,
    )
    from kafkahooks.endpoints.versions import version_in_force, written_in_force

__all__ = [
    "DEFAULT_PERIOD",
    "ENDPOINT_ID_PREFIX",
    "LIMITS",
    "MAX_RECORD_BYTES",
    "RECORD_ADAPTER",
    "RECORD_VERSION",
    "RECOVER_PREFIX",
    "STALE_AFTER",
    "STATUS_PREFIX",
    "Disable",
    "Endpoint",
    "EndpointDirectory",
    "EndpointHealth",
    "EndpointLimitError",
    "EndpointSpec",
    "EndpointStatus",
    "EndpointTable",
    "HealthObserver",
    "HealthWork",
    "Keyring",
    "MemoryDirectory",
    "MissingKeyError",
    "RecoverJob",
    "Sealed",
    "SigningSecret",
    "StoreRecordError",
    "check_endpoint_url",
    "create_endpoint",
    "decide",
    "decode_endpoint",
    "describe_endpoint",
    "encode_endpoint",
    "encode_job",
    "encode_status",
    "endpoint_health",
    "generate_key_spec",
    "is_endpoint_id",
    "new_endpoint_id",
    "new_signing_secret",
    "origin_of",
    "parse_job",
    "record_json_schema",
    "recover_key",
    "rotate_secret",
    "set_active",
    "spec_of",
    "status_json_schema",
    "status_key",
    "update_endpoint",
    "version_in_force",
    "written_in_force",
]

_HOMES = {
    "RECOVER_PREFIX": "recover",
    "STALE_AFTER": "recover",
    "RecoverJob": "recover",
    "encode_job": "recover",
    "parse_job": "recover",
    "recover_key": "recover",
    "DEFAULT_PERIOD": "health",
    "Disable": "status",
    "ENDPOINT_ID_PREFIX": "ids",
    "Endpoint": "endpoint",
    "EndpointDirectory": "directory",
    "EndpointHealth": "health",
    "EndpointLimitError": "errors",
    "EndpointSpec": "spec",
    "EndpointStatus": "status",
    "EndpointTable": "table",
    "HealthObserver": "health",
    "HealthWork": "health",
    "Keyring": "crypto",
    "LIMITS": "spec",
    "MAX_RECORD_BYTES": "records",
    "MemoryDirectory": "memory",
    "MissingKeyError": "errors",
    "RECORD_ADAPTER": "records",
    "RECORD_VERSION": "records",
    "STATUS_PREFIX": "status",
    "Sealed": "crypto",
    "SigningSecret": "endpoint",
    "StoreRecordError": "errors",
    "check_endpoint_url": "spec",
    "create_endpoint": "spec",
    "decide": "health",
    "decode_endpoint": "records",
    "describe_endpoint": "spec",
    "endpoint_health": "spec",
    "encode_endpoint": "records",
    "encode_status": "status",
    "generate_key_spec": "crypto",
    "is_endpoint_id": "ids",
    "new_endpoint_id": "ids",
    "new_signing_secret": "spec",
    "origin_of": "endpoint",
    "record_json_schema": "records",
    "rotate_secret": "spec",
    "set_active": "spec",
    "spec_of": "spec",
    "status_json_schema": "status",
    "status_key": "status",
    "update_endpoint": "spec",
    "version_in_force": "versions",
    "written_in_force": "versions",
}
__getattr__ = lazy_door(__name__, globals(), _HOMES)
