"""Patel & Sastry 2021: headline claims, measured on the tidy tables of Figs. 2-4
(``memrepro.claims``). J1: training accuracy on the noisy labels; J2: on the true labels."""

from memrepro.claims import Claim, final_metric

SHORT = ("at smoke the models train 10 epochs (the paper: 120-200), and J1 at eta >= 0.2 "
         "is still far from 1")


def _min_final_j1(fid: str, loss: str):
    def measure(tables):
        d = tables[fid]
        d = d[d["loss"] == loss]
        return None if d.empty else float(final_metric(d, "j1").min())
    return measure


def _rll_gap(tables):
    d = tables["ps/fig3"]
    gap = final_metric(d, "j2") - final_metric(d, "j1")
    gap = gap[gap.index.get_level_values("eta").round(3) == 0.4]
    return None if gap.empty else float(gap.min())


def _rll_vs_cce(tables):
    """Per architecture in Fig. 4: (J2 - J1)(RLL) - (J2 - J1)(CCE) at eta = 0.4, the least."""
    d = tables["ps/fig4"]
    d = d[d["eta"].round(3) == 0.4]
    gap = final_metric(d, "j2", ("model", "loss")) - final_metric(d, "j1", ("model", "loss"))
    gap = gap.unstack("loss")
    if not {"rll", "cce"} <= set(gap.columns):
        return None
    return float((gap["rll"] - gap["cce"]).min())


CLAIMS = (
    Claim("PS-1", "With CCE the networks memorize the noisy labels: J1 reaches ~1 at every "
          "noise rate", "Sec. 4, Fig. 2", "ps/fig2",
          "least final J1 of CCE over eta (ResNet-18, MNIST)", _min_final_j1("ps/fig2", "cce"),
          ">=", 0.95, scales=("quick", "paper"),
          note=SHORT + " (measured: 0.936 at eta 0.6)"),
    Claim("PS-2", "CCE memorizes on CIFAR-10 too: J1 ~1 at every noise rate", "Sec. 4, Fig. 1",
          "ps/fig1", "least final J1 of CCE over eta and architecture (CIFAR-10)",
          _min_final_j1("ps/fig1", "cce"), ">=", 0.95, scales=("paper",),
          note=SHORT + "; the CIFAR-10 stand-in nets keep J1 near 1 - eta"),
    Claim("PS-3", "RLL resists memorization: J2 stays well above J1 at eta = 0.4",
          "Sec. 4, Fig. 3", "ps/fig3", "least (J2 - J1) at the end, eta = 0.4, over panels",
          _rll_gap, ">=", 0.1, scales=("quick", "paper"),
          note="at smoke no loss has fitted the noise yet after 10 epochs, so J2 - J1 shows "
               "under-fitting rather than robustness (ResNet-18 MNIST: -0.03)"),
    Claim("PS-4", "RLL memorizes less than CCE: its J2 - J1 gap is larger at eta = 0.4",
          "Sec. 4, Fig. 4", "ps/fig4",
          "least over architectures of (J2 - J1)(RLL) - (J2 - J1)(CCE), eta = 0.4",
          _rll_vs_cce, ">", 0.0, scales=("quick", "paper"),
          note="at smoke, 10 epochs: Inception-Lite has fitted the noise with neither loss"),
)
