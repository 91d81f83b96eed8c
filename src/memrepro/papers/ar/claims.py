"""Arpit et al. 2017: headline claims, measured on the tidy tables of Figs. 1 and 8-9
(``memrepro.claims``)."""

import numpy as np

from memrepro.claims import Claim, final_metric, slope_interval


def _fig1_dispersion(noise, eta):
    """Fig. 1: the within-class dispersion of the panel trained with this noise (name, rate):
    the spread of its per-example rates around their class means over Binomial's
    (memrepro.papers.ar.per_example_rates.class_dispersion)."""
    def measure(tables):
        d = tables["ar/fig1"]
        d = d[(d["curve"] == "measured") & (d["noise"] == noise) & (abs(d["eta"] - eta) < 1e-9)]
        return None if d.empty else float(d["dispersion"].iloc[0])
    return measure


def _rand_y(tables, fid="ar/fig8"):
    d = tables[fid]
    return d[d["noise"] == "random_labels"]


def _slope_bound(metric: str, end: int):
    """One end (0: lower, 1: upper) of the 95% interval of the slope of randY's final
    ``metric`` (seed-mean) on eta: a trend over all noise rates, which one swapped pair of
    neighbours cannot overturn (at smoke CSR is measured on 200 images, and eta 0 to 0.4 give
    1 to 14 critical ones)."""
    def measure(tables):
        m = final_metric(_rand_y(tables), metric, ("eta",)).sort_index()
        return None if len(m) < 3 else slope_interval(m.index.to_numpy(), m.to_numpy())[end]
    return measure


def _peak_before_fit(tables, fit=0.95):
    """Per noisy randY cell: whether test accuracy peaks before the epoch J1 first reaches
    ``fit`` (a cell that never fits the noise does not count as holding)."""
    d = _rand_y(tables)
    d = d[d["eta"] > 0]
    out = []
    for _, g in d.groupby(["eta", "seed"]):
        test = g[g["metric"] == "test_acc"].sort_values("epoch")
        j1 = g[g["metric"] == "j1"].sort_values("epoch")
        fitted = j1[j1["value"] >= fit]["epoch"]
        out.append(bool(len(fitted)) and int(test.loc[test["value"].idxmax(), "epoch"])
                   < int(fitted.min()))
    return np.array(out) if out else None


CLAIMS = (
    Claim("AR-1", "The critical sample ratio at the end of training orders by the noise "
          "level: more noise, more critical samples", "Sec. 4 (CSR), Figs. 8-9", "ar/fig8",
          "lower end of the 95% interval of the slope of randY's final CSR (CNN, CIFAR-10) "
          "on eta", _slope_bound("csr", 0), ">", 0.0,
          note="smoke, seed offsets 0-9: lower end 0.024 to 0.103 (median 0.072)"),
    Claim("AR-2", "DNNs take longer to fit noise: at a fixed epoch, training accuracy falls "
          "as the noise level grows", "Sec. 3, Fig. 8a", "ar/fig8",
          "upper end of the 95% interval of the slope of randY's final J1 (accuracy on the "
          "given labels) on eta", _slope_bound("j1", 1), "<", 0.0,
          note="smoke, seed offsets 0-9: upper end -0.63 to -0.50"),
    Claim("AR-3", "Validation accuracy peaks before the noise is fitted (early stopping "
          "helps)", "Sec. 4, Fig. 8b", "ar/fig8",
          "per noisy randY cell: test accuracy peaks before J1 first reaches 0.95",
          _peak_before_fit, "all_true", scales=("quick", "paper"),
          note="at smoke the CNN trains 15 epochs and fits none of the noisy label sets "
               "(final J1 <= 0.82 at eta >= 0.2), so 'before the noise is fitted' has no "
               "epoch to compare with"),
    Claim("AR-4", "For randX, apparent differences in difficulty are well modeled as random "
          "Binomial noise: random inputs are all equally difficult", "Sec. 3.1, Fig. 1",
          "ar/fig1", "within-class dispersion of randX's per-example misclassification rates "
          "after one epoch: their spread around the class means over Binomial(runs, class "
          "rate)'s (1: equally hard; a single Binomial for all examples would mistake the "
          "label prior for difficulty)", _fig1_dispersion("random_inputs", 1.0), "<=", 1.5,
          note="smoke, seed offsets 0-4: 0.71 to 0.83"),
    Claim("AR-5", "On real data many examples are consistently classified (in)correctly "
          "after one epoch: easy and hard examples", "Sec. 3.1, Fig. 1", "ar/fig1",
          "within-class dispersion of the real data's per-example misclassification rates "
          "after one epoch (well above 1: examples of one class differ in difficulty)",
          _fig1_dispersion("random_labels", 0.0), ">=", 2.0,
          note="smoke, seed offsets 0-4: 3.38 to 3.71"),
)
