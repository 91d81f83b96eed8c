"""Liu, Lin & Jaggi 2022: headline claims (each claim's ``section`` says where the paper
makes it; thresholds ours), measured on the tidy tables of Figs. 2-6 (``memrepro.claims``)."""

import numpy as np

from memrepro.claims import Claim, auroc

CIFAR = ("at smoke the CIFAR-10 stand-in is 1,437 digits: the TOD VGG memorises them "
         "through the masks, so its easy/difficult partitions carry no meaning")


def _fig2_auroc(tables):
    d = tables["llj/fig2"]
    d = d[d["panel"] == 1]
    return None if d.empty else auroc(d["score"], d["corrupted"].astype(bool))


def _test_curve(tables, column="accuracy"):
    """Fig. 3's test accuracy by epoch: raw (``accuracy``) or as drawn (``smoothed``)."""
    d = tables["llj/fig3"]
    d = d[(d["split"] == "test") & (d["subset_name"] == "full")]
    return None if d.empty else d.groupby("epoch")[column].mean().sort_index()


def _peak_drop(tables):
    c = _test_curve(tables)
    return None if c is None else float(c.max() - c.iloc[-1])


def _peak_epoch(tables):
    """The epoch of the peak of the curve the figure draws (centred moving average): the raw
    curve's top is a plateau of ~20 epochs within 0.01 of each other, whose argmax is a coin
    toss between them."""
    c = _test_curve(tables, "smoothed")
    return None if c is None else float(c.idxmax())


def _share(tables, first: str, others: tuple[str, ...]):
    """Fraction of epochs where statistic ``first`` exceeds every one of ``others``."""
    d = tables["llj/fig4"].pivot_table(index="epoch", columns="statistic", values="value")
    if first not in d or any(o not in d for o in others):
        return None
    return float(np.mean(np.all([d[first] > d[o] for o in others], axis=0)))


def _final_acc(d, subset: str, split: str = "train"):
    d = d[(d["subset_name"] == subset) & (d["split"] == split)]
    return d[d["epoch"] == d["epoch"].max()]["accuracy"].mean()


def _control(tables):
    """Fig. 5 MNIST: final train accuracy on the difficult subset, with - without it."""
    d = tables["llj/fig5"]
    d = d[d["panel"] == 0]
    with_, without = (_final_acc(d[d["control"].astype(str) == c], "difficult")
                      for c in ("False", "True"))
    return float(with_ - without)


def _informative(tables):
    """Fig. 6: final acc on easy when trained on difficult - on difficult when trained on
    easy."""
    d = tables["llj/fig6"]
    return float(_final_acc(d[d["panel"] == 1], "easy")
                 - _final_acc(d[d["panel"] == 0], "difficult"))


CLAIMS = (
    Claim("LLJ-1", "Examples with random labels get higher memorization scores",
          "Sec. 3.1, Fig. 2b", "llj/fig2", "AUROC of the score for 'corrupted'", _fig2_auroc,
          ">=", 0.9,
          note="smoke, seed offsets 0-4: 0.983 to 0.991"),
    Claim("LLJ-2", "Test accuracy peaks early, then drops as the random labels are fitted",
          "Sec. 3.2, Fig. 3b", "llj/fig3", "max - final test accuracy", _peak_drop, ">=", 0.01,
          note="smoke, seed offsets 0-4: 0.14 to 0.23"),
    Claim("LLJ-3", "Test accuracy peaks early in training (before the noise is fitted)",
          "Sec. 3.2, Fig. 3b", "llj/fig3",
          "epoch of the peak of the smoothed test accuracy (100 epochs at smoke)", _peak_epoch,
          "between", (2, 60),
          note="smoke, seed offsets 0-4: epoch 6 to 14"),
    Claim("LLJ-4", "Gradients of easy examples are more similar to each other than those of "
          "difficult ones", "Sec. 3.2, Fig. 4a", "llj/fig4",
          "fraction of epochs with cos_easy > cos_difficult",
          lambda t: _share(t, "cos_easy", ("cos_difficult",)), ">=", 0.95,
          scales=("quick", "paper"),
          note="at smoke a batch of 32 holds about 5 easy and 5 difficult examples (1/6 each), "
               "so an epoch's mean pairwise cosine rests on ~10 pairs per step and is noisy "
               "(the mean over epochs is 3x larger for easy, but easy wins only ~85% of "
               "epochs)"),
    Claim("LLJ-5", "Difficult examples contribute most to the SGD update", "Sec. 3.2, Fig. 4b",
          "llj/fig4", "fraction of epochs with contribution difficult > easy and > all",
          lambda t: _share(t, "contrib_difficult", ("contrib_easy", "contrib_all")),
          ">=", 0.9, note="smoke, seed offsets 0-4: 1.0 at every offset"),
    Claim("LLJ-6", "Control: the difficult examples are learnt from themselves, not as a side "
          "effect of easy patterns", "Sec. 3.3, Fig. 5 caption", "llj/fig5",
          "final train accuracy on the difficult MNIST subset, with - without training on it",
          _control, ">=", 0.2, note="smoke, seed offsets 0-4: 0.26 to 0.28"),
    Claim("LLJ-7", "Difficult examples are more informative than easy ones", "Sec. 3.3, Fig. 6",
          "llj/fig6", "final acc on easy when trained on difficult - on difficult when trained "
          "on easy (CIFAR-10)", _informative, ">=", 0.2, scales=("quick", "paper"),
          note=CIFAR),
)
