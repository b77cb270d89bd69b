"""``kafkahooks api``: serve the management API; print its OpenAPI document; make an admin token.

Imports FastAPI, uvicorn and the Kafka client only when the command runs, so
``kafkahooks --help`` stays light (``tests/unit/cli/test_startup_imports.py``).
Invariant: a new admin token is printed once, to stdout, next to the config line that
holds only its hash.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_api_command"]

OPENAPI_COPY = "schemas/openapi.json"


def openapi_text() -> str:
    from kafkahooks.api import openapi_document

    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def cmd_api(args: argparse.Namespace) -> int:
    if args.print_openapi:
        sys.stdout.write(openapi_text())
        return 0
    if args.new_admin_token is not None:
        return _new_admin_token(args.new_admin_token)
    if args.config is None:
        from kafkahooks.cli.common import usage_error

        usage_error("api: give --config FILE (or --print-openapi, --new-admin-token ID)")
    from kafkahooks.api import ApiStartError, run_api
    from kafkahooks.app import Settings
    from kafkahooks.cli.common import load_or_exit
    from kafkahooks.kafka import StoreError
    from kafkahooks.telemetry import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    config = load_or_exit(args.config, settings.allow_local_targets)
    try:
        return run_api(config, settings.allow_local_targets, listen=args.listen)
    except (ApiStartError, ValueError) as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"kafkahooks api: {exc}", file=sys.stderr)
        return 1


def _new_admin_token(token_id: str) -> int:
    import re

    from kafkahooks.api import new_token

    if not re.fullmatch(r"[a-z0-9]{4,32}", token_id):
        print("--new-admin-token: the id is 4-32 lower-case letters and digits", file=sys.stderr)
        return 2
    issued = new_token(token_id)
    print("# the routes file's api.admin_tokens (only the hash):")
    print(f"- {{id: {issued.id}, sha256: {issued.sha256}}}")
    print(f"admin token (shown once, not stored anywhere): {issued.value}")
    return 0


def add_api_command(sub: Any) -> None:
    parser = sub.add_parser("api", help="serve the management API (endpoints, tokens)")
    parser.add_argument("--config", help="the routes file (api, endpoint_store sections)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="instead of api.listen")
    parser.add_argument("--print-openapi", action="store_true",
                        help=f"print the OpenAPI document ({OPENAPI_COPY} is a copy)")  # fmt: skip
    parser.add_argument("--new-admin-token", metavar="ID",
                        help="make an admin token: prints it once and its config line")  # fmt: skip
    parser.set_defaults(func=cmd_api)


def write_openapi_copy(root: Path) -> None:
    (root / OPENAPI_COPY).write_text(openapi_text(), encoding="utf-8")
