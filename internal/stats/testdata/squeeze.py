# Reference values for stats.SqueezeVar: the moment fit of a scaled inverse
# chi-square prior to sample variances (Smyth 2004, section 6.2), computed
# with mpmath at 30 digits and a bracketing root finder, independent of the
# Go code's Newton iteration.
# Regenerate (any Python with mpmath): python3 internal/stats/testdata/squeeze.py > internal/stats/testdata/squeeze.json
import json
import mpmath as mp

mp.mp.dps = 30

cases = [
    ([0.0009, 0.0010, 0.0011], [4, 4, 4]),
    ([0.0001, 0.0009, 0.0064], [4, 4, 4]),
    ([0.0004, 0.0016, 0.0004], [4, 10, 18]),
    ([2.5e-5, 1e-3, 4e-2], [2, 2, 2]),
    ([1.0, 3.0], [8, 8]),
]
out = []
for v, d in cases:
    e = [mp.log(x) - mp.digamma(mp.mpf(k) / 2) + mp.log(mp.mpf(k) / 2) for x, k in zip(v, d)]
    g = len(e)
    mean = sum(e) / g
    excess = sum((x - mean) ** 2 for x in e) / (g - 1) - sum(mp.polygamma(1, mp.mpf(k) / 2) for k in d) / g
    if excess <= 0:
        # one noise: the pooled variance (where limma takes exp(mean))
        pooled = sum(mp.mpf(x) * k for x, k in zip(v, d)) / sum(d)
        out.append({"vars": v, "dfs": d, "d0": "inf", "s0sq": float(pooled)})
        continue
    half = mp.findroot(lambda x: mp.polygamma(1, x) - excess, (mp.mpf("1e-8"), mp.mpf("1e8")), solver="anderson")
    d0 = 2 * half
    s0 = mp.e ** (mean + mp.digamma(d0 / 2) - mp.log(d0 / 2))
    out.append({"vars": v, "dfs": d, "d0": float(d0), "s0sq": float(s0)})
print(json.dumps(out, indent=1))
