"""Arpit et al. 2017, "A Closer Look at Memorization in Deep Networks". The index is
:mod:`memrepro.papers.ar.index`; this package file stays empty so that importing one module
(a training job imports ``training``) does not import the figure kinds."""
