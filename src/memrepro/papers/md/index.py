"""Nguyen, Levie, Lienen, Hüllermeier & Kutyniok 2023, "Memorization-Dilation: Modeling Neural
Collapse under Label Noise" (MD): the index.

Figs. 1 and 2 are ``md_scatter`` (memorization against NC1_test and test accuracy, one panel
per dataset, or per dataset and feature dimension M), Fig. 3 is ``feature_scatter`` (the 2-D
features of one run). Both read the ``features`` probe files. Torch-free: the probe lives in
``memrepro.papers.md.training``.
"""

from memrepro.paper import Paper
from memrepro.papers.md import claims, feature_scatter, md_scatter

NOTE = ("MD choices where the paper is silent: binary tasks of classes 0 and 1 of each "
        "dataset; training on a fixed 80% of the class-filtered training set (as the released "
        "code; label noise drawn on the full set first), memorization and NC1 on the examples "
        "trained on; inputs at their native shape (28x28 grey, 32x32 colour), normalised per "
        "channel; noise: each label redrawn uniformly from both classes with probability eta "
        "(so about eta/2 of the labels change); eta grid {0.025, 0.05, 0.1, 0.15, 0.2, 0.25, "
        "0.3, 0.4}; SGD with momentum 0.9 and batch 16 (the released code and command); a "
        "final batch of one example is merged into the previous one (BatchNorm); seeds 0-9. "
        "Label smoothing and label relaxation with alpha 0.1; MSE on raw logits against "
        "one-hot targets (mse_logits), not PS's softmax MSE. "
        "Model: 8 hidden layers of 2048 units and one feature layer of width M, each "
        "Linear-BatchNorm-ReLU, then a linear classifier with bias. NC1's global mean is the "
        "mean of the class means (the paper's; the code's sample mean is recorded as *_sm). "
        "Fig. 2: MNIST and CIFAR-10, M in {2, 8, 32, 128}, CE and LS, M = 2 from the Fig. 1 "
        "runs. Fig. 3: MNIST, CE, eta 0.2, seed 0.")

OPTION_SCHEMAS = {
    "features": {
        "description": (
            "MD's penultimate features (the classifier's input, eval mode, float32) of every "
            "trained example and every test example, with the stable ids, the labels trained "
            "on, the true labels and the classifier's weights, written to "
            "probes/features_epoch-<e>.npz at the listed `epochs` (MD Figs. 1-3)."),
        "type": "object", "additionalProperties": False, "properties": {}},
}

PAPER = Paper(
    claims=claims.CLAIMS,
    citation=('Nguyen, Levie, Lienen, Kutyniok & Hüllermeier 2023, "Memorization-Dilation: '
              'Modeling Neural Collapse under Label Noise"'),
    kinds={"md_scatter": md_scatter.KIND, "feature_scatter": feature_scatter.KIND},
    probes={"features": "penultimate features of the training and test sets {}"},
    file_probes=frozenset({"features"}),
    option_schemas=OPTION_SCHEMAS,
    note=NOTE,
    note_kinds=frozenset({"md_scatter", "feature_scatter"}),
)
