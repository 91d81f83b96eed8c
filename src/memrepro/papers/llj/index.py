"""Liu, Lin & Jaggi 2022, "Understanding Memorization from the Perspective of Optimization via
Efficient Influence Estimation" (LLJ): the index.

Figs. 9 and 10 use the core ``curves`` kind (Fig. 9 with the ``tod_unmuted_acc`` /
``tod_muted_acc`` history columns, Fig. 10 with ``legend: count``); the other figures have
their own kinds here. Torch-free: the training add-ons live in ``memrepro.papers.llj.training``.
"""

from memrepro.figures import MetricStyle
from memrepro.paper import Paper
from memrepro.papers.llj import (
        claims,
        example_grid,
        gradient_curves,
        score_histogram,
        subset_curves,
        tod_schematic,
)

NOTE = ("LLJ choices where the paper is silent: turn-over dropout keeps exactly half of the "
        "units (channels in convolutions) of every masked layer, chosen per example by an "
        "integer hash of (cell seed, layer, example id, unit), kept units scaled by 2; masked: "
        "the hidden layer of the MLP (not the input), the output of every convolution of "
        "VGG-11, the tokenizer convolutions and transformer MLP blocks of the CCT; "
        "turn-over dropout models have no classifier bias (the only weight both sub-networks "
        "would share); masks are keyed by the example's stable id (its index in the prepared "
        "training set), never a batch position. VGG-11: the CIFAR variant (8 convolutions, one "
        "linear classifier) with torchvision's initialisation. Scores at the final epoch. No "
        "weight decay, no augmentation; inputs "
        "scaled to [0, 1] and normalised per channel; one seed (0). Random labels: exactly "
        "round(eta n) labels redrawn uniformly from all classes (about 1 in 10 lands on the "
        "true class). Tracked subsets (Figs. 3-4): 1/6 of the examples each, drawn with seed "
        "0 from the unchanged and from the changed labels. Partitions (Figs. 5-8): the lowest "
        "20% of scores are easy, the highest 20% difficult; test-set scores from a run "
        "trained on train and test together. Fig. 3: centred 5-epoch moving average; Fig. 4: "
        "its own run at App. A's MNIST lr 0.06 (App. A switches only Fig. 3 to 0.01), "
        "per-step values averaged per epoch; per-example gradients over all parameters, from "
        "the Gram matrix in closed form. Fig. 5's control trains without the difficult 20%, "
        "Fig. 6 on the easy or the difficult 20% alone; subset accuracies come from "
        "per-example correctness bits recorded every epoch. Fig. 9(b): CCT-2/3x2 (2 blocks, 2 "
        "heads, width 128, a two-convolution tokenizer), Adam lr 5e-4, 50 epochs at batch 256. "
        "Fig. 10: 0 to 50,000 "
        "random labels in steps of 10,000.")

OPTION_SCHEMAS = {
    "tod": {
        "description": (
            "Turn-over dropout memorization scores (LLJ Eq. 6): per trained example, the "
            "cross-entropy of its muted and of its unmuted sub-network on the label trained "
            "on, their difference, and both predictions, written to "
            "probes/tod_epoch-<e>.npz at the listed `epochs`."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "tod_unmuted_acc": {
        "description": ("Training accuracy (labels trained on) of each example's unmuted "
                        "sub-network (LLJ Fig. 9): history column tod_unmuted_acc."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "tod_muted_acc": {
        "description": ("Training accuracy (labels trained on) of each example's muted "
                        "sub-network (LLJ Fig. 9): history column tod_muted_acc."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "correctness": {
        "description": (
            "Per-example correctness bits (prediction == label trained on) over the whole "
            "prepared training set and the test set (LLJ Figs. 3, 5, 6), written to "
            "probes/correctness_epoch-<e>.npz."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "grad_stats": {
        "description": (
            "Per training step: mean pairwise cosine similarity (LLJ Eq. 3) and mean "
            "contribution (Eq. 4) of per-example gradients of the tracked easy and difficult "
            "subsets in the batch, written per epoch to probes/grad_stats_epoch-<e>.npz. "
            "Needs train.track_gradients."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "turnover": {
        "description": ("Train with turn-over dropout (LLJ Sec. 2.2): each example passes "
                        "only through its own unmuted sub-network. Needs a model with "
                        "tod: true."),
        "type": "object", "additionalProperties": False, "properties": {}},
    "track_gradients": {
        "description": (
            "Track the easy (unchanged labels) and difficult (changed labels) subsets of "
            "LLJ Figs. 3-4, each a share `frac` of the training set (default 1/6) drawn with "
            "seed 0, for the grad_stats probe."),
        "type": "object", "additionalProperties": False,
        "properties": {"frac": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}}},
}

PAPER = Paper(
    claims=claims.CLAIMS,
    citation=('Liu, Lin & Jaggi 2022, "Understanding Memorization from the Perspective of '
              'Optimization via Efficient Influence Estimation"'),
    kinds={"score_histogram": score_histogram.KIND, "subset_curves": subset_curves.KIND,
           "gradient_curves": gradient_curves.KIND, "example_grid": example_grid.KIND,
           "tod_schematic": tod_schematic.KIND},
    # LLJ Fig. 9: training accuracy of the two sub-networks of a turn-over dropout model
    metric_styles={"tod_unmuted_acc": MetricStyle("unmuted sub-network (train acc.)", "-"),
                   "tod_muted_acc": MetricStyle("muted sub-network (train acc.)", "--")},
    probes={"tod": "turn-over dropout scores (LLJ Eq. 6) {}",
            "tod_unmuted_acc": "unmuted sub-network training accuracy {}",
            "tod_muted_acc": "muted sub-network training accuracy {}",
            "correctness": "per-example correctness on the training and test sets {}",
            "grad_stats": "per-example gradient cosine and contribution per step {}"},
    objectives={"turnover": "trained with turn-over dropout",
                "track_gradients": "easy/difficult subsets tracked for gradient statistics {}"},
    file_probes=frozenset({"tod", "correctness", "grad_stats"}),
    option_schemas=OPTION_SCHEMAS,
    # turn-over dropout needs the masked layers of a model built with tod: true
    model_needs={name: {"tod": True} for name in
                 ("turnover", "tod", "tod_unmuted_acc", "tod_muted_acc")},
    note=NOTE,
    note_kinds=frozenset({"curves", "score_histogram", "subset_curves", "gradient_curves",
                          "example_grid"}),
)
