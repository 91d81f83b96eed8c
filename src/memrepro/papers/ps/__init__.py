"""Patel & Sastry 2021, "Memorization in Deep Neural Networks: Does the Loss Function
matter?". The index is :mod:`memrepro.papers.ps.index`."""
