"""Memorization-Dilation (Nguyen et al. 2023): headline claims (each claim's ``section`` says
where the paper makes it; thresholds ours), measured on the tidy tables of Figs. 1-2
(``memrepro.claims``)."""

import numpy as np

from memrepro.claims import Claim, spearman
from memrepro.papers.md.md_scatter import DEFAULT_FIT, panel_fits, seed_means

FEW = ("at smoke each panel has 3 noise rates and 2 seeds: too few points for a line "
       "fit or a rank correlation to mean anything")


def _means(tables, fid="md/fig1"):
    d = tables[fid]
    return d.groupby(["panel", "loss", "eta"])[["mem", "nc1_test"]].mean()


def _mem_grows(tables, by=("loss",)):
    """Least Spearman rho(eta, mean mem) over the groups ``by`` (mean over the rest)."""
    m = _means(tables).groupby([*by, "eta"])["mem"].mean().reset_index()
    rhos = [spearman(g["eta"], g["mem"]) for _, g in m.groupby(list(by))]
    return float(np.nanmin(rhos)) if rhos else None


def _ls_over_ce(tables):
    """Geometric mean over (dataset, eta) of seed-mean mem(LS) / mem(CE): how much less LS
    memorizes, in every cell at once (a count of cells where LS < CE turns on cells where the
    two are within a few percent)."""
    m = _means(tables)["mem"].unstack("loss")
    if not {"ls", "cce"} <= set(m.columns):
        return None
    m = m.dropna(subset=["ls", "cce"])
    return None if m.empty else float(np.exp(np.log(m["ls"] / m["cce"]).mean()))


def _linear_r2(tables):
    """Least R^2 over datasets and over CE and LS of the lines Fig. 1 draws (md_scatter's
    ``panel_fits``): NC1_test on mem through one loss's seed means whose mem is at most the
    panel's median, Sec. 4.1's "approximately linear ... when mem is not large"."""
    d = tables["md/fig1"]
    r2 = []
    for _, rows in d.groupby("panel"):
        points = seed_means(rows.assign(series_label=rows["series_label"].astype(str)),
                            "mem", "nc1_test")
        r2 += [fit[2] for fit in panel_fits(points, list(DEFAULT_FIT)).values()]
    r2 = [v for v in r2 if np.isfinite(v)]
    return min(r2) if r2 else None


def _dilation_per_m(tables):
    """Least Spearman rho(seed-mean mem, seed-mean NC1_test) over the panels (M) of Fig. 2."""
    m = _means(tables, "md/fig2").reset_index()
    rhos = [spearman(g["mem"], g["nc1_test"]) for _, g in m.groupby("panel")]
    return float(np.nanmin(rhos)) if rhos else None


CLAIMS = (
    Claim("MD-1", "More label noise, more memorization", "Sec. 4.1, Fig. 1", "md/fig1",
          "least Spearman rho(eta, mean memorization over datasets and seeds) over losses",
          _mem_grows, ">", 0.8,
          note="smoke, seed offsets 0-4: rho 1 at every offset; the smallest step between "
               "neighbouring rates' means is +10% (offset 0, CE, eta 0.1 to 0.2)"),
    Claim("MD-1b", "More label noise, more memorization, on every dataset",
          "Sec. 4.1, Fig. 1", "md/fig1",
          "least Spearman rho(eta, seed-mean memorization) over datasets and losses",
          lambda t: _mem_grows(t, ("panel", "loss")), ">", 0.8, scales=("quick", "paper"),
          note="at smoke a panel's mean is over 2 seeds, whose spread is as large as the "
               "effect of eta (CE, 3rd panel: 50, 39, 88)"),
    Claim("MD-2", "Label smoothing memorizes less than cross-entropy", "Sec. 4.2, Fig. 1",
          "md/fig1", "geometric mean over (dataset, eta) of mem(LS) / mem(CE)", _ls_over_ce,
          "<", 0.9,
          note="smoke, seed offsets 0-4: 0.64 to 0.74"),
    Claim("MD-3", "NC1 on test data grows about linearly with memorization for CE and LS",
          "Sec. 4.1, Fig. 1", "md/fig1",
          "least R^2 over datasets and CE, LS of the figure's fit lines (NC1_test ~ mem "
          "through the seed means with mem <= the panel's median)", _linear_r2,
          ">=", 0.8, scales=("quick", "paper"), note=FEW),
    Claim("MD-4", "The memorization-dilation trend holds for every feature dimension M",
          "Sec. 4.1, Fig. 2", "md/fig2", "least Spearman rho(mem, NC1_test) over M",
          _dilation_per_m, ">", 0.8, scales=("quick", "paper"), note=FEW),
)
