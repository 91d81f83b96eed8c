"""The rehearsal: every training job of a scale's plan run on this machine at its real shapes
(real models, data sizes, group structure, objectives and probes) for a few steps, every
figure drawn from the outputs and marked REHEARSAL, and a cost report projecting the real run
onto a GPU model (docs/rehearsal.md).

- :mod:`memrepro.rehearsal.plan`: the plan transform (few epochs and steps, probe epochs mapped,
  figures selected with ``only``);
- :mod:`memrepro.rehearsal.raw_formats`: raw files in the published formats and sizes of MNIST,
  FashionMNIST, CIFAR-10 and SVHN, served to the real download code through ``data.mirror``;
- :mod:`memrepro.rehearsal.meter`: what a training job measures (seconds, FLOPs, bytes, kernels,
  saved activations, peak memory);
- :mod:`memrepro.rehearsal.devices` and :mod:`memrepro.rehearsal.report`: the projection and the
  report (``results/rehearsal.{csv,md}``);
- :mod:`memrepro.rehearsal.run`: ``memrepro rehearse``, which makes the rehearsal directory and
  runs Snakemake in it.
"""
