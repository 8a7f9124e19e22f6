"""Dashboard passwords are hashed with argon2id at RFC 9106's low-memory parameters (64 MiB,
3 passes). The suite hashes with argon2's cheapest test profile in-process (tests/conftest.py),
so the production hasher is checked in a fresh interpreter, as `trimtab serve` runs it."""

from __future__ import annotations

import subprocess
import sys

from argon2 import Type, extract_parameters, profiles

from tests.support import WAIT
from trimtab.domain.spine import users

HASH_ONE = "from trimtab.domain.spine import users; print(users.hash_password('a long password'))"


def test_hash_password__production_process__argon2id_rfc_9106_low_memory() -> None:
    made = subprocess.run(
        [sys.executable, "-c", HASH_ONE], capture_output=True, text=True, timeout=WAIT
    )
    assert made.returncode == 0, made.stderr
    password_hash = made.stdout.strip()

    parameters = extract_parameters(password_hash)
    assert parameters.type is Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        profiles.RFC_9106_LOW_MEMORY.memory_cost,
        profiles.RFC_9106_LOW_MEMORY.time_cost,
        profiles.RFC_9106_LOW_MEMORY.parallelism,
    )
    # A hash made with other parameters (the suite's cheap ones) still verifies: argon2 reads
    # the parameters from the hash itself.
    assert users.verify_password(password_hash, "a long password")
    assert not users.verify_password(password_hash, "another password")
