import sys, time
import numpy as np, pandas as pd
import xsell
from xsell import Agent, Catalog, SampleBank, sample_feature_spec

def equal_value_catalog():
    d = Catalog.sample().to_dict()
    for p in d["products"]:
        p["value"]["amount"] = 100.0
        p["opt_out_cost"] = 0.0
    return Catalog.from_dict(d)

def run(seed, policy, n=20000, batch=500, learn=True, prior=None):
    cat = equal_value_catalog()
    bank = SampleBank(seed=seed, catalog=cat)
    agent = Agent(cat, sample_feature_spec(), policy=policy, seed=seed, prior=prior)
    conv = 0
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for b in range(n // batch):
        cust = bank.customers(batch, start=b * batch)
        at = start + pd.Timedelta(hours=b)
        d = agent.act(cust, at=at)
        y = bank.respond(cust, d["product"].tolist(), at)
        conv += int(y.sum())
        if learn:
            off = d["product"].notna().to_numpy()
            agent.update(pd.DataFrame({"decision_id": d["decision_id"][off], "conversion": y[off]}))
    return conv, agent

if __name__ == "__main__":
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    diffs = []
    for seed in range(5):
        t = time.perf_counter()
        base, _ = run(seed, xsell.Greedy(), learn=False)
        ts, agent = run(seed, xsell.ThompsonSampling(posterior_scale=scale))
        co = agent.coefficients()
        w = co[(co["product"] == "travel_insurance") & (co["feature"] == "propensity score") & (co["outcome"] == "conversion")]["weight"].iloc[0]
        diffs.append(ts - base)
        print(seed, base, ts, round(w, 3), round(time.perf_counter() - t, 1), flush=True)
    d = np.array(diffs); print("mean diff", d.mean(), "se", d.std(ddof=1) / np.sqrt(len(d)))
