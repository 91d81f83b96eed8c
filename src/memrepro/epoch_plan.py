"""What a training epoch does besides stepping: where its minibatches start and end, and
whether it ends with an evaluation (``train.eval_every``). Used by ``memrepro.engine``.
"""

from __future__ import annotations

from torch import nn

from memrepro.probes import due
from memrepro.specs import not_allowed


def has_batchnorm(model: nn.Module) -> bool:
    """Whether any layer of ``model`` is a batch norm (1d, 2d or 3d)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def batch_bounds(n: int, batch_size: int, batchnorm: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each minibatch of an epoch over ``n`` shuffled examples: consecutive
    slices of ``batch_size``, the last one possibly shorter.

    A batch of one example cannot be batch-normalised in training (its variance is 0; PyTorch
    refuses it), so for a model with batch norm a last batch of exactly one example is merged
    into the previous one (which then holds batch_size + 1). Nothing changes for models
    without batch norm or when n % batch_size != 1, so those runs stay bitwise the same.
    """
    if batchnorm and (n < 2 or batch_size < 2):
        key, value = ("train.batch_size", batch_size) if batch_size < 2 else ("examples", n)
        raise ValueError(f"{key}: {value} with a batch-norm model gives batches of one example; "
                         "allowed: batch_size >= 2 and at least 2 training examples")
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if batchnorm and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def eval_every(train: dict) -> int:
    """``train.eval_every`` (default 1), checked: an integer >= 1, and 1 with
    ``stop_when_fit`` (which needs every epoch's fit to decide when to stop)."""
    k = train.get("eval_every", 1)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(not_allowed("train.eval_every", k, "an integer >= 1"))
    if k > 1 and train.get("stop_when_fit"):
        raise ValueError(not_allowed("train.eval_every", k, "1", why=" with train.stop_when_fit: "
                                     "true (the fit is checked after every epoch)"))
    return k


def evaluation_due(epoch: int, epochs: int, every: int, wanted_probes: dict[str, dict]) -> bool:
    """Whether the model is evaluated after ``epoch`` epochs (0 = initialisation): at epoch 0,
    every ``every``-th epoch, the final epoch (``epochs``), and wherever one of the asked-for
    probes (name -> options) is due, so no probe file or column is lost."""
    return (epoch % every == 0 or epoch == epochs
            or any(due(opts, epoch) for opts in wanted_probes.values()))
