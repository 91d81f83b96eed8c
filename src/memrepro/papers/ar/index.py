"""Arpit et al. 2017, "A Closer Look at Memorization in Deep Networks": the index.

Figs. 7-8 use the core ``curves`` kind with the ``csr`` history column; the other figures
have their own kinds here. Training add-ons (``csr`` probe, ``adversarial`` objective) are in
:mod:`memrepro.papers.ar.training` (torch).
"""

from memrepro.figures import MetricStyle
from memrepro.paper import Paper
from memrepro.papers.ar import (
    claims,
    filters,
    per_example_rates,
    regularizers,
    sensitivity_kinds,
    series,
    sweep_curves,
)

NOTE = ("AR choices where the paper is silent: the test set serves as the validation set; "
        "randX replaces a share eta of the training inputs by independent Gaussian noise with the "
        "data's per-channel mean and variance, real-valued on the 0-255 scale (neither rounded "
        "nor clipped to the pixel range, which would shift those moments: on MNIST a third of "
        "the draws fall below 0; such a run holds its images as float32), and normalises with "
        "the statistics of the set as trained; randY replaces a share eta of the labels by "
        "uniform draws. CSR: the share of the first `examples` test images for which LASS (alpha "
        "0.25, beta 0.2, box radius 0.3 on the 0-255 scale, at most max_iter steps) finds a "
        "point with another predicted class (a lower bound). LASS ascends the cross-entropy of "
        "the class predicted at x (the printed Alg. 1 is garbled), clipped to the pixel range. "
        "The CNN (footnote 2) takes Keras's defaults where the footnote is silent (valid "
        "convolutions, pooling stride = pool size). Figs. 3-4: random data = random inputs; "
        "the 16-unit MLP trains 300 SGD steps (lr 0.5, batch 50), its loss-sensitivity "
        "back-propagated through all of them as in Sec. 3.2 (measured by hand on 1000 14x14 "
        "MNIST test digits, 1 CPU thread: Fig. 3 in 218 s at 988 MB peak RSS, Fig. 4 in 711 s "
        "at 1,284 MB, ~0.6 GB of it the libraries: no checkpointing needed); smoke restarts "
        "the graph every 20 steps (restart_every 20), which on the 8x8 digits (by hand, 20 "
        "against the full unroll) moves Fig. 3's Gini curves by at most 0.239 / 0.041 (real "
        "/ random, normal labels; final values 0.546 vs 0.361 and 0.195 vs 0.154) and 0.041 "
        "/ 0.018 (one class per example), keeps real above random at every step with the "
        "normal labels and from step 151 (full unroll: 111) on with one class per example, "
        "and makes Fig. 4's cells 2-23 % (real) and 16-53 % (random) of the full unroll's "
        "(the diagonal the largest cell of its column in 7 vs 1 of 10 columns for real data, "
        "10 vs 10 for random). On 14x14 MNIST at lr 0.5 a few steps dominate the full "
        "unroll: the mean g^t of real data (K = 10) peaks at 5.3e3 (step 263), 11 "
        "truncated. Fig. 5: the best validation accuracy over epochs. "
        "Regularizers: dropout and hidden noise after each hidden layer (conv blocks: after "
        "pooling), input dropout and input noise on the normalised input (sigma in units of "
        "the data's sd); adversarial training: (1 - w) clean loss + w loss on the critical "
        "samples LASS finds in the batch, both in one pass. Fig. 11: training accuracy (eval "
        "mode) and training loss, since text and caption differ. Batch 128 (not stated); the "
        "CNN trains 100 epochs (training accuracy on randY saturates well before); real data "
        "is the same run with nothing replaced (random labels at rate 0).")

# Figs. 3-4: what the truncated unroll of the smoke scale changes (measured by hand on the 8x8
# digits, restart_every 20 against null; sensitivity_runs' docstring has the details)
_TRUNCATION = (" The setting restart_every null back-propagates through all the SGD steps "
               "(Sec. 3.2); an integer W restarts the graph every W steps, as the smoke scale "
               "does (20)")
_GINI_TRUNCATION = (", which on the 8x8 digits moves the Gini curves by at most 0.24 (real "
                    "data, normal labels) and 0.04 (the other three); real stays above random "
                    "at every step with the normal labels, with one class per example from "
                    "step 151 on (full unroll: 111).")
_CLASS_TRUNCATION = (", which on the 8x8 digits makes the cells 2-23 % (real) and 16-53 % "
                     "(random) of the full unroll's; mean diagonal over mean off-diagonal 1.78 "
                     "vs 1.09 (real), 5.43 vs 2.78 (random).")

# The options of its training add-ons (memrepro.papers.ar.training), checked by the
# configuration before any job runs.
OPTION_SCHEMAS = {
    "csr": {
        "description": (
            "The critical sample ratio (Arpit et al. 2017, Sec. 4.1) of the model on the first "
            "`examples` test images (default 500), found by LASS (`alpha` 0.25, `beta` 0.2, "
            "`radius` 0.3 on the 0-255 pixel scale, at most `max_iter` steps, default 20), "
            "every `every` epochs and at the listed `epochs`; written to the history's csr "
            "column."),
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "examples": {"type": "integer", "minimum": 1},
            "max_iter": {"type": "integer", "minimum": 1},
            "alpha": {"type": "number", "exclusiveMinimum": 0},
            "beta": {"type": "number", "minimum": 0},
            "radius": {"type": "number", "exclusiveMinimum": 0},
        },
    },
    "adversarial": {
        "description": (
            "Adversarial training on critical samples (Arpit et al. 2017, Sec. 5): the loss is "
            "(1 - weight) * clean loss + weight * loss on the critical samples LASS finds in "
            "the batch (default LASS settings, at most max_iter steps, default 20). Single "
            "models only."),
        "type": "object",
        "additionalProperties": False,
        "required": ["weight"],
        "properties": {
            "weight": {"type": "number", "minimum": 0, "maximum": 1},
            "max_iter": {"type": "integer", "minimum": 1},
        },
    },
}

PAPER = Paper(
    claims=claims.CLAIMS,
    citation="Arpit et al. 2017, \"A Closer Look at Memorization in Deep Networks\"",
    kinds={"per_example_rates": per_example_rates.KIND, "filters": filters.KIND,
           "gini": sensitivity_kinds.GINI,
           "class_sensitivity": sensitivity_kinds.CLASS_SENSITIVITY,
           "sweep_curves": sweep_curves.KIND, "series": series.KIND,
           "regularizers": regularizers.KIND},
    # AR Figs. 7-9: the CSR stays small, so its axis follows the data
    metric_styles={"csr": MetricStyle("critical sample ratio", (0, (3, 1, 1, 1, 1, 1)),
                                      marker="o", axis="critical sample ratio (%)",
                                      free_top=True)},
    probes={"csr": "CSR probe {}"},
    objectives={"adversarial": "adversarial training on LASS critical samples {}"},
    option_schemas=OPTION_SCHEMAS,
    note=NOTE,
    kind_note_suffix={"gini": _TRUNCATION + _GINI_TRUNCATION,
                      "class_sensitivity": _TRUNCATION + _CLASS_TRUNCATION},
    note_kinds=frozenset({"curves", "sweep_curves", "series", "regularizers", "filters"}),
)
