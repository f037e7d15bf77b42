# Reference p-values for stats.MannWhitney: the exact conditional
# (permutation) distribution of the rank sum with mid-ranks, from scipy.
# Regenerate (Debian python3-scipy): /usr/bin/python3 internal/stats/testdata/utest_ties.py > internal/stats/testdata/utest_ties.json
# (Debian's python3-scipy 1.10; permutation_test enumerates every split when
# n_resamples=inf.)
import json
import numpy as np
from scipy import stats

cases = [
    ([1, 2, 2, 3], [2, 3, 3, 4]),
    ([0, 0, 0, 0.2, 0.2, 0], [0, 0, 0, 0, 0, 0]),
    ([0, 0, 0, 0, 0, 0], [0.2, 0.2, 0, 0, 0, 0]),
    ([5, 5, 6], [5, 6, 6]),
    ([10, 11, 11, 12, 12, 12], [11, 12, 13]),
    ([1, 1, 2, 2, 3, 3, 4], [2, 2, 3, 5, 5]),
    ([3.1, 3.1, 3.2], [3.0, 3.1, 3.1, 3.3]),
    ([1, 2, 3], [4, 5, 6]),
    ([4, 5, 6], [1, 2, 3]),
    ([7, 7, 7, 8], [7, 8, 8, 8]),
    ([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46], [1.15, 0.88, 0.90, 0.74, 1.21]),
    ([1, 1, 1, 2, 2, 3, 3, 3, 4, 4], [2, 2, 3, 3, 4, 4, 4, 5, 5, 5]),
]

def ranksum_b(x, y):
    r = stats.rankdata(np.concatenate([x, y]))
    return r[len(x):].sum()

out = []
for a, b in cases:
    a, b = np.array(a, float), np.array(b, float)
    res = {}
    for alt in ("greater", "less"):
        t = stats.permutation_test((a, b), ranksum_b, permutation_type="independent",
                                   vectorized=False, n_resamples=np.inf, alternative=alt)
        res[alt] = float(t.pvalue)
    out.append({"a": a.tolist(), "b": b.tolist(), "greater": res["greater"], "less": res["less"]})
print(json.dumps({"_source": "scipy " + __import__("scipy").__version__ + " permutation_test (exact enumeration) of the rank sum of b with mid-ranks; greater: b tends to be larger", "cases": out}, indent=1))
