"""Sticky bucketing for percentage rollouts and weighted splits, identical to Unleash.

Unleash (client specification, `normalizedValue`) hashes "<groupId>:<stickiness value>" with
murmur3 x86 32-bit and

- for a flexibleRollout: seed 0, `hash % 100 + 1`, and the user is in when that is <= rollout;
- for variants: seed 86028157, `hash % total_weight + 1`, and the first variant whose running
  weight total reaches that number is chosen.

trimtab uses the flag's salt as the groupId and the same two formulas, so a flag translated for
Unleash SDKs (or imported from Unleash) puts every user in the same bucket.

Rollout buckets are 0.001% wide: bucket = (h % 100) * 1000 + (h // 100) % 1000, in
[0, 100000), and a rollout of p% includes buckets < p * 1000. For whole percentages this is
exactly Unleash's test (h % 100 < p); the lower digits only split each Unleash percent into a
thousand. (Plain `h % 100000` would disagree with Unleash.) Raising p only adds buckets, so
every user in at 10% is still in at 50%.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import mmh3

ROLLOUT_SEED = 0
VARIANT_SEED = 86028157
BUCKETS = 100_000


def rollout_bucket(salt: str, value: str) -> int:
    """The rollout bucket, in [0, 100000), of a stickiness value for a flag's salt."""
    h = mmh3.hash(f"{salt}:{value}", ROLLOUT_SEED, False)
    return (h % 100) * 1000 + (h // 100) % 1000


def percentage_threshold(percentage: float) -> int:
    """The first bucket a rollout of `percentage` percent leaves out."""
    return round(percentage * 1000)


def split_index(salt: str, value: str, weights: Sequence[int]) -> int:
    """The index of the weighted variant a stickiness value gets (weights sum to > 0)."""
    cumulative = cumulative_weights(weights)
    target = mmh3.hash(f"{salt}:{value}", VARIANT_SEED, False) % cumulative[-1]
    return bisect_right(cumulative, target)


def cumulative_weights(weights: Sequence[int]) -> tuple[int, ...]:
    """Running totals of the weights; the last one is the total."""
    totals = []
    running = 0
    for weight in weights:
        running += weight
        totals.append(running)
    return tuple(totals)
