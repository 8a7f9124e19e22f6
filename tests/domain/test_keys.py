"""DSN keys as ingest sees them: the lookup behind the server's key cache."""

from __future__ import annotations

from trimtab.domain.spine import keys, projects
from trimtab.domain.spine.actors import SYSTEM
from trimtab.domain.spine.keys import IngestKey
from trimtab.store.db import Store


def test_find_ingest_key__live_revoked_and_unknown_keys__what_ingest_needs_of_each(
    store: Store,
) -> None:
    with store.write() as session:
        projects.ensure_organization(session, "acme")
        project_id = projects.create_project(session, SYSTEM, "shop").id
        limited = keys.create_key(session, SYSTEM, "shop", "ci", rate_limit_per_minute=120)
        revoked = keys.create_key(session, SYSTEM, "shop", "old")
        keys.revoke_key(session, SYSTEM, "shop", revoked.public_key)
        limited_key, revoked_key = limited.public_key, revoked.public_key

    with store.read() as session:
        assert keys.find_ingest_key(session, limited_key) == IngestKey(project_id, False, 120)
        assert keys.find_ingest_key(session, revoked_key) == IngestKey(project_id, True, None)
        assert keys.find_ingest_key(session, "0" * 32) is None
