"""The one-sided tests behind the canary-vs-stable comparisons (pure, standard library only).

Both ask "is the canary worse than stable by more than the margin?" and
return a p-value: the chance of data at least this bad if it were not.
A comparison fails only when the observed difference exceeds the margin
and the p-value is below 1 - confidence.
"""

import math
from collections.abc import Sequence


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def proportion_excess_p_value(
    failures_a: float, total_a: float, failures_b: float, total_b: float, margin: float
) -> float:
    """One-sided two-proportion z-test of H0: p_a - p_b <= margin (Wald, unpooled variances).

    Counts may be fractional (rates times a window). With no variance at all
    (both shares 0 or 1) the answer is certain: 0 when the excess is over the
    margin, else 1.
    """
    if total_a <= 0 or total_b <= 0:
        raise ValueError("both samples need requests")
    p_a, p_b = failures_a / total_a, failures_b / total_b
    excess = p_a - p_b - margin
    variance = p_a * (1 - p_a) / total_a + p_b * (1 - p_b) / total_b
    if variance <= 0:
        return 0.0 if excess > 0 else 1.0
    return normal_sf(excess / math.sqrt(variance))


def _bucket_counts(cumulative: Sequence[tuple[float, float]]) -> list[float]:
    counts, previous = [], 0.0
    for _, total in cumulative:
        # Rates of a reset counter can dip a little below the bucket before: never negative.
        counts.append(max(total - previous, 0.0))
        previous = max(total, previous)
    return counts


def histogram_shift_p_value(
    slower: Sequence[tuple[float, float]], faster: Sequence[tuple[float, float]]
) -> float:
    """One-sided Mann-Whitney U test that `slower`'s latencies are stochastically larger.

    Both are cumulative histograms over the same bucket bounds, (le, count)
    rising with +Inf last. Requests in one bucket are ties: the normal
    approximation with the tie correction is used, which is accurate for the
    hundreds of requests the judge needs before it compares at all.
    """
    if [le for le, _ in slower] != [le for le, _ in faster]:
        raise ValueError("the histograms have different bucket bounds")
    xs, ys = _bucket_counts(slower), _bucket_counts(faster)
    n_x, n_y = sum(xs), sum(ys)
    if n_x <= 0 or n_y <= 0:
        raise ValueError("both histograms need requests")
    n = n_x + n_y
    # U counts the (x, y) pairs with x > y, ties counting one half.
    u, below = 0.0, 0.0
    for x, y in zip(xs, ys, strict=True):
        u += x * (below + y / 2)
        below += y
    ties = sum((x + y) ** 3 - (x + y) for x, y in zip(xs, ys, strict=True))
    variance = n_x * n_y / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    mean = n_x * n_y / 2
    if variance <= 0:  # every request in one bucket: no evidence of a shift
        return 1.0
    return normal_sf((u - mean) / math.sqrt(variance))
