"""Patel & Sastry 2021, "Memorization in Deep Neural Networks: Does the Loss Function
matter?": the index. Figs. 1-5 use the core ``curves`` kind; Sec. 3's symmetry table is
:mod:`memrepro.papers.ps.symmetry`."""

from memrepro.paper import Paper
from memrepro.papers.ps import claims, symmetry

PAPER = Paper(
    claims=claims.CLAIMS,
    citation=symmetry.CITATION,
    kinds={"symmetry": symmetry.KIND},
    kind_note_suffix={"curves": " (The authors' released code fed raw 0-255 pixels.)"},
)
