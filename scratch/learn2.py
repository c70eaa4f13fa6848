import sys, numpy as np
sys.path.insert(0, "scratch")
from learn import run
import xsell
args = dict(a.split("=") for a in sys.argv[1:])
scale = float(args.pop("scale", 1.0))
prior = xsell.WarmStartPrior(**{k: float(v) for k, v in args.items()})
diffs, ws = [], []
for seed in range(5):
    base, _ = run(seed, xsell.Greedy(), learn=False)
    ts, agent = run(seed, xsell.ThompsonSampling(posterior_scale=scale), prior=prior)
    co = agent.coefficients()
    w = co[(co["product"] == "travel_insurance") & (co["feature"] == "propensity score") & (co["outcome"] == "conversion")]["weight"].iloc[0]
    diffs.append(ts - base); ws.append(w)
d = np.array(diffs); print(sys.argv[1:], "diff", d.mean(), "se", round(d.std(ddof=1) / np.sqrt(5), 1), "w", np.round(ws, 2))
