"""Write a new Alembic revision from the difference between the models and the migrations.

    .venv/bin/python scripts/new_migration.py "add flags" [--head REV] [--rev-id 0002_flags]

It upgrades a scratch SQLite file to the current heads, then autogenerates against it. Read the
result before committing: autogenerate misses renames and server defaults.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command

from trimtab.store.db import Store
from trimtab.store.migrate import alembic_config, upgrade


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("message")
    parser.add_argument("--head", default="head")
    parser.add_argument("--rev-id", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        upgrade(store)
        with store.engine.begin() as connection:
            command.revision(
                alembic_config(connection),
                message=args.message,
                autogenerate=True,
                head=args.head,
                rev_id=args.rev_id,
            )


if __name__ == "__main__":
    main()
