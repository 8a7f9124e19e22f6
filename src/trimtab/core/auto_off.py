"""Auto-off rules: is the flag's "on" side clearly worse than its "off" side? Pure arithmetic.

Errors arrive tagged with what a flag evaluated to for that user. With `errors_on` errors
carrying the flag on and `errors_off` carrying it off, and the share of evaluations that were on
(`exposure_on`), the question is whether the on side produces more than its share of errors.
Under "the flag changes nothing", each error is on with probability `exposure_on`, so
`errors_on ~ Binomial(errors_on + errors_off, exposure_on)`. We trip when

- errors_on >= min_errors (a handful of errors proves nothing), and
- the on side's error rate per exposure is at least `min_ratio` times the off side's (a
  statistically significant but negligible difference is not worth an outage of the feature),
  and
- the one-sided binomial tail P(X >= errors_on) is below `alpha`.

A bare threshold (`max_errors` in the window) is the other trigger, checked by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EXACT_LIMIT = 20_000  # above this many errors, the normal approximation is exact enough


@dataclass(frozen=True)
class Comparison:
    trip: bool
    p_value: float | None
    ratio: float | None
    reason: str


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if n > EXACT_LIMIT:
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        z = (k - 0.5 - mean) / sd  # continuity correction
        return 0.5 * math.erfc(z / math.sqrt(2))
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    terms = [
        log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def compare(
    errors_on: int,
    errors_off: int,
    exposure_on: float,
    *,
    min_errors: int = 10,
    min_ratio: float = 2.0,
    alpha: float = 0.001,
) -> Comparison:
    """Whether errors with the flag on clearly exceed those with it off (see the module doc).

    `exposure_on` is the share of evaluations (or users) that got the flag on, in (0, 1).
    """
    if errors_on < min_errors:
        return Comparison(False, None, None, f"{errors_on} errors with it on (< {min_errors})")
    if not 0.0 < exposure_on < 1.0:
        return Comparison(False, None, None, "no off side to compare with")
    rate_on = errors_on / exposure_on
    rate_off = errors_off / (1.0 - exposure_on)
    ratio = math.inf if rate_off == 0 else rate_on / rate_off
    p_value = binomial_tail(errors_on, errors_on + errors_off, exposure_on)
    shown = "inf" if math.isinf(ratio) else f"{ratio:.1f}"
    summary = (
        f"{errors_on} errors with it on vs {errors_off} off at {exposure_on:.0%} exposure: "
        f"{shown}x the off rate, p={p_value:.2g}"
    )
    trip = ratio >= min_ratio and p_value < alpha
    return Comparison(trip, p_value, None if math.isinf(ratio) else ratio, summary)
