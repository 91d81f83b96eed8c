"""Our SGD/Adam follow torch.optim's update rules step for step."""

import pytest
import torch

from memrepro.optim import SGD, Adam


def _run(make_opt, steps=25):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    opt = make_opt(model.parameters())
    for i in range(steps):
        if i == 10:
            for g in opt.param_groups:
                g["lr"] *= 0.5  # a schedule changes lr between steps
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kw", [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9},
                                {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}])
def test_sgd_matches_torch(kw):
    ours = _run(lambda p: SGD(p, **kw))
    ref = _run(lambda p: torch.optim.SGD(p, **kw))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [{"lr": 1e-2}, {"lr": 1e-2, "weight_decay": 1e-2}])
def test_adam_matches_torch(kw):
    ours = _run(lambda p: Adam(p, **kw))
    ref = _run(lambda p: torch.optim.Adam(p, **kw))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_round_trip_continues_identically():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = Adam([w], lr=0.1)
    for _ in range(3):
        w.grad = torch.ones(5)
        opt.step()
    sd, w0 = opt.state_dict(), w.detach().clone()
    w.grad = torch.ones(5)
    opt.step()
    after = w.detach().clone()
    w.data.copy_(w0)
    opt2 = Adam([w], lr=0.1)
    opt2.load_state_dict(sd)
    w.grad = torch.ones(5)
    opt2.step()
    assert torch.equal(w.detach(), after)
