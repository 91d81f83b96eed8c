"""Nguyen, Levie, Lienen, Hüllermeier & Kutyniok 2023, "Memorization-Dilation: Modeling
Neural Collapse under Label Noise" (MD): penultimate-layer features of binary MLPs trained on
noisy labels, their neural collapse (NC1) and the memorization of the corrupted examples.

Deliberately empty: a training job imports only ``memrepro.papers.md.training`` and never
loads figure code through this package.
"""
