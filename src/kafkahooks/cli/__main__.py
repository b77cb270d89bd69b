"""``python -m kafkahooks.cli``."""

from kafkahooks.cli.main import main

raise SystemExit(main())
