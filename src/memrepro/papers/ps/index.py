"""Patel & Sastry 2021, "Memorization in Deep Neural Networks: Does the Loss Function
matter?": the index. Figs. 1-5 use the core ``curves`` kind; Sec. 3's symmetry table is
:mod:`memrepro.papers.ps.symmetry`."""

from memrepro.paper import Paper
from memrepro.papers.ps import claims, symmetry

NOTE = ("PS choices where the paper is silent: batch 128; SGD momentum 0.9; RLL alpha = 0.1 "
        "(the authors' released default); normalized MSE = MSE / sum_j MSE(g, e_j) (Sec. 3); "
        "noise symmetric_other (a flipped label goes to one of the K-1 other classes); one "
        "seed. Inception-Lite: Zhang et al. 2017's small Inception with TF-slim's batch norm "
        "(a learned shift, no learned scale), on 32x32 inputs (Zhang et al. cropped to 28x28). "
        "ResNet-32: parameter-free (option A) shortcuts; ResNet-18: the small-image variant "
        "(3x3 stem, no max-pool). Fig. 4 (b, d) uses RLL and Fig. 5 normalized MSE; panel "
        "letters follow the captions in the paper's text.")

PAPER = Paper(
    claims=claims.CLAIMS,
    citation=symmetry.CITATION,
    kinds={"symmetry": symmetry.KIND},
    kind_note_suffix={"curves": " (The authors' released code fed raw 0-255 pixels.)"},
    note=NOTE,
    note_kinds=frozenset({"curves"}),
)
