"""The comparisons' tests agree with SciPy's on the same data."""

import math

import pytest
from scipy import stats

from rollout.stats import histogram_shift_p_value, normal_sf, proportion_excess_p_value

INF = float("inf")
BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5, INF)


def cumulative(counts: list[int]) -> list[tuple[float, float]]:
    total, rows = 0, []
    for le, count in zip(BOUNDS, counts, strict=True):
        total += count
        rows.append((le, float(total)))
    return rows


def expanded(counts: list[int]) -> list[int]:
    """One value per request: the index of its bucket (ties within a bucket, as the histogram has them)."""
    return [index for index, count in enumerate(counts) for _ in range(count)]


HISTOGRAMS = [
    ([0, 10, 50, 30, 10, 0], [5, 30, 50, 15, 0, 0]),
    ([5, 30, 50, 15, 0, 0], [0, 10, 50, 30, 10, 0]),
    ([10, 20, 30, 20, 15, 5], [10, 20, 30, 20, 15, 5]),
    ([0, 0, 3, 2, 0, 1], [2, 4, 1, 0, 0, 0]),
]


@pytest.mark.parametrize(("canary", "stable"), HISTOGRAMS)
def test_the_histogram_test_is_scipys_mann_whitney_with_the_tie_correction(
    canary: list[int], stable: list[int]
) -> None:
    reference = stats.mannwhitneyu(
        expanded(canary), expanded(stable), alternative="greater", method="asymptotic", use_continuity=False
    )
    assert histogram_shift_p_value(cumulative(canary), cumulative(stable)) == pytest.approx(reference.pvalue)


def test_the_histogram_test_refuses_different_bucket_bounds() -> None:
    with pytest.raises(ValueError, match="different bucket bounds"):
        histogram_shift_p_value([(0.1, 1.0), (INF, 2.0)], [(0.2, 1.0), (INF, 2.0)])


def test_identical_single_bucket_histograms_show_no_shift() -> None:
    assert histogram_shift_p_value([(0.1, 5.0), (INF, 5.0)], [(0.1, 9.0), (INF, 9.0)]) == 1.0


@pytest.mark.parametrize(
    ("canary", "stable", "margin"),
    [((60, 1000), (10, 1000), 0.02), ((30, 1000), (10, 1000), 0.02), ((5, 100), (9, 900), 0.02)],
)
def test_the_proportion_test_is_the_one_sided_wald_z_test_against_the_margin(
    canary: tuple[int, int], stable: tuple[int, int], margin: float
) -> None:
    p_c, p_s = canary[0] / canary[1], stable[0] / stable[1]
    se = math.sqrt(p_c * (1 - p_c) / canary[1] + p_s * (1 - p_s) / stable[1])
    expected = stats.norm.sf((p_c - p_s - margin) / se)
    assert proportion_excess_p_value(*canary, *stable, margin) == pytest.approx(expected)


def test_no_errors_on_either_track_is_certainly_not_worse() -> None:
    assert proportion_excess_p_value(0, 500, 0, 500, 0.02) == 1.0


def test_all_errors_on_the_canary_and_none_on_stable_is_certainly_worse() -> None:
    assert proportion_excess_p_value(500, 500, 0, 500, 0.02) == 0.0


def test_the_normal_tail_is_scipys() -> None:
    for z in (-2.0, 0.0, 1.645, 3.0):
        assert normal_sf(z) == pytest.approx(stats.norm.sf(z))
