"""From samples to verdicts: a case's pass rate with its uncertainty, and whether a change made
a case worse.

An agent that samples passes a case some of the time. One sample says little, so a case runs N
times and is summarised by its pass rate with a Wilson interval (sound at small N, unlike the
normal approximation), pass@k (at least one of k tries passes: the unbiased estimator of Chen et
al. 2021) and pass^k (all k pass: tau-bench's reliability measure). A case that both passed and
failed is *flaky*. Two result files are compared case by case with a one-sided Fisher exact test
(exact at the small counts a CPU fleet affords): a case is *worse* only when its drop in passes
is unlikely to be chance at the chosen level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Z_95 = 1.959963984540054
COUNTED = ("passed", "failed", "stale", "error", "unavailable")  # "skipped" never ran: not counted


@dataclass(frozen=True)
class CaseSummary:
    agent: str
    case: str
    passed: int
    total: int  # samples that ran (skipped ones excluded)
    k: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.total)

    @property
    def pass_at_k(self) -> float:
        return pass_at_k(self.total, self.passed, self.k)

    @property
    def pass_hat_k(self) -> float:
        return pass_hat_k(self.total, self.passed, self.k)

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.total


def wilson(passed: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (95 % by default); (0, 1) when nothing ran."""
    if total == 0:
        return 0.0, 1.0
    p = passed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn from these n passes)."""
    if n == 0 or k > n:
        return 0.0
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """P(all k samples drawn from these n pass)."""
    if n == 0 or k > n:
        return 0.0
    return math.comb(c, k) / math.comb(n, k)


def fisher_worse(base_passed: int, base_total: int, head_passed: int, head_total: int) -> float:
    """One-sided p-value that head passes less often than base (Fisher's exact test): the chance,
    with both drawn from one rate, of head passing this few times or fewer."""
    passes = base_passed + head_passed
    total = base_total + head_total
    if base_total == 0 or head_total == 0:
        return 1.0
    denominator = math.comb(total, passes)
    low = max(0, passes - base_total)
    return (
        sum(math.comb(head_total, h) * math.comb(base_total, passes - h) for h in range(low, head_passed + 1))
        / denominator
    )


Change = Literal["worse", "better", "new failure", "fixed", "flaky", "same", "new", "removed", "not run"]


@dataclass(frozen=True)
class CaseChange:
    agent: str
    case: str
    base: CaseSummary | None
    head: CaseSummary | None
    p_worse: float  # one-sided: head passes less often than base
    p_better: float
    change: Change
    significant: bool  # worse (or better) at the chosen level


def compare_case(
    base: CaseSummary | None, head: CaseSummary | None, level: float, ran: bool = True
) -> CaseChange:
    """``ran``: whether the side missing a case ran its agent at all (else the case is "not run",
    as when the head results cover only the agents a change touched)."""
    some = head or base
    assert some is not None
    if base is None or head is None:
        change: Change = "not run" if not ran else "new" if base is None else "removed"
        return CaseChange(some.agent, some.case, base, head, 1.0, 1.0, change, False)
    p_worse = fisher_worse(base.passed, base.total, head.passed, head.total)
    p_better = fisher_worse(head.passed, head.total, base.passed, base.total)
    if p_worse <= level:
        change, significant = "worse", True
    elif p_better <= level:
        change, significant = "better", True
    elif base.passed == base.total and head.passed < head.total:
        change, significant = "new failure", False
    elif base.passed < base.total and head.passed == head.total:
        change, significant = "fixed", False
    elif head.flaky:
        change, significant = "flaky", False
    else:
        change, significant = "same", False
    return CaseChange(base.agent, base.case, base, head, p_worse, p_better, change, significant)
