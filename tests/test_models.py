"""Parameter counts against the numbers the source papers report."""

import pytest
import torch

from memrepro.models import MODELS, count_parameters, get_model


def test_resnet32_matches_he_et_al():
    # He et al. 2016 Table 6: 0.46M; option-A shortcuts give exactly 464,154
    assert count_parameters(get_model("resnet32")) == 464_154
    assert count_parameters(get_model("resnet_cifar", depth=20)) == 269_722  # 0.27M


def test_resnet18_matches_common_count():
    assert count_parameters(get_model("resnet18")) == 11_173_962
    # one input channel (MNIST): the stem loses 2 * 64 * 3 * 3 weights
    assert count_parameters(get_model("resnet18", in_channels=1)) == 11_173_962 - 1152


def test_inception_lite_matches_zhang_et_al():
    assert count_parameters(get_model("inception_lite")) == 1_649_402  # Zhang et al. Table 1


def test_arpit_cnn_counts_by_hand():
    # footnote 2 of Arpit et al. 2017 with Keras defaults: 28 -> conv 24 -> pool 8 -> conv 4
    # -> pool 1; conv 3*25*200+200, 200*25*200+200; dense 200*384+384, 384*192+192, 192*10+10;
    # BN weight+bias 2*(200+200+384+192)
    by_hand = 15_200 + 1_000_200 + 77_184 + 73_920 + 1_930 + 2 * (200 + 200 + 384 + 192)
    assert count_parameters(get_model("ar_cnn")) == by_hand == 1_170_386
    with pytest.raises(ValueError, match="shrink to nothing"):
        get_model("ar_cnn", image_size=16)


@pytest.mark.parametrize("name,kw,shape", [
    ("ar_cnn", {}, (2, 3, 32, 32)),
    ("ar_cnn", {"width": 8, "dense": [16, 8], "padding": "same", "image_size": 16},
     (2, 3, 16, 16)),
    ("resnet32", {"width": 4}, (2, 3, 32, 32)),
    ("resnet18", {"width": 8, "in_channels": 1}, (2, 1, 28, 28)),
    ("resnet18", {"width": 8, "in_channels": 1}, (2, 1, 8, 8)),
    ("inception_lite", {"width": 0.125}, (2, 3, 28, 28)),
    ("mlp", {"hidden": [16, 16], "image_size": 14}, (2, 1, 14, 14)),
])
def test_forward_shapes(name, kw, shape):
    out = get_model(name, num_classes=7, **kw)(torch.zeros(shape))
    assert out.shape == (2, 7)


def test_registry_errors():
    assert {"resnet32", "resnet18", "inception_lite", "mlp"} <= set(MODELS)
    with pytest.raises(KeyError, match="known"):
        get_model("vgg99")
    with pytest.raises(ValueError, match="6n\\+2"):
        get_model("resnet_cifar", depth=30)
