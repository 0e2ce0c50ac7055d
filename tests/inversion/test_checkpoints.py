"""Checkpoint loading: official pickles (safely), rosinality, the project's format, identity, refusals."""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inversion.checkpoints import generator_identity, load_discriminator, load_generator, save_generator
from inversion.checkpoints.rosinality import convert_state_dict, infer_config
from inversion.common.errors import CheckpointError, FaceLatentError
from inversion.networks.discriminator import Discriminator
from inversion.networks.stylegan2 import Generator

torch.set_num_threads(1)
FIXTURE = "stylegan2-ada_64_random.pkl"


def small_generator(seed=0, **synthesis):
    torch.manual_seed(seed)
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 128, "channel_max": 16, **synthesis})
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.2)
        G.mapping.w_avg.normal_()
    return G.eval()


# --- official-format pickles written by the tests (a stand-in torch_utils.persistence module) ---

class _Persistent:
    def __init__(self, module: torch.nn.Module, init_kwargs: dict, module_src: str):
        self.module, self.init_kwargs, self.module_src = module, init_kwargs, module_src

    def meta(self) -> dict:
        m = self.module
        children = OrderedDict((name, _Persistent(child, {}, self.module_src)) for name, child in m._modules.items())
        state = {"training": False, "_init_args": (), "_init_kwargs": self.init_kwargs,
                 "_parameters": OrderedDict(m._parameters), "_buffers": OrderedDict(m._buffers),
                 "_non_persistent_buffers_set": set(), "_modules": children, "_forward_hooks": OrderedDict()}
        return {"type": "class", "version": 6, "module_src": self.module_src,
                "class_name": type(m).__name__, "state": state}


def write_official_pickle(path: Path, monkeypatch, module_src: str = "", **objects) -> Path:
    fake = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # only ever pickled by reference, never called here
        raise AssertionError("not to be called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", fake)

    class Writer(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, _Persistent):
                return _reconstruct_persistent_obj, (obj.meta(),)
            return NotImplemented

    with open(path, "wb") as handle:
        Writer(handle, protocol=4).dump({k: (_Persistent(*v, module_src) if isinstance(v, tuple) else v)
                                         for k, v in objects.items()})
    return path


def test_fixture_identity_is_stable_and_survives_own_formats(shared, tmp_path):
    path = shared("fixtures", FIXTURE)
    G1, G2 = load_generator(path), load_generator(path)
    ident = generator_identity(G1)
    assert len(ident) == 64 and ident == generator_identity(G2)
    assert G1.config["alignment"] == "ffhq" and G1.config["network"] == "stylegan2"
    for target in (tmp_path / "g.pt", tmp_path / "gdir"):
        save_generator(G1, target)
        H = load_generator(target)
        assert generator_identity(H) == ident and H.config == G1.config
    (tmp_path / "gdir" / "weights.pt").rename(tmp_path / "gdir" / "generator.pt")  # any single .pt
    assert generator_identity(load_generator(tmp_path / "gdir")) == ident
    with torch.no_grad():
        G2.synthesis.b8.conv0.weight[0, 0, 0, 0] += 1e-3
    assert generator_identity(G2) != ident


def test_identity_independent_of_state_dict_order():
    G = small_generator()
    H = Generator(**{k: v for k, v in G.config.items() if k != "network"})
    H.load_state_dict(OrderedDict(reversed(list(G.state_dict().items()))))
    assert generator_identity(H) == generator_identity(G)


def test_code_running_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    class EvilExec:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').write('x')",)

    for i, payload in enumerate(({"G_ema": Evil()}, {"G_ema": EvilExec()})):
        path = tmp_path / f"evil{i}.pkl"
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(CheckpointError, match="refusing to load") as info:
            load_generator(path)
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_code_hidden_in_tensor_storage_bytes_is_refused(tmp_path):
    import io
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    inner = io.BytesIO()
    torch.save(Evil(), inner)

    class FakeStorage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (inner.getvalue(),)

    path = tmp_path / "evil_storage.pkl"
    path.write_bytes(pickle.dumps({"G_ema": FakeStorage()}))
    evil_pt = tmp_path / "evil.pt"
    torch.save({"g_ema": Evil()}, evil_pt)
    for bad in (path, evil_pt):
        with pytest.raises(CheckpointError, match="could run code") as info:
            load_generator(bad)
        assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    assert not marker.exists()


def test_module_src_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    src = f"open({str(marker)!r}, 'w').write('module_src was executed')\n"
    G = small_generator()
    kwargs = {k: v for k, v in G.config.items() if k not in ("network", "alignment")}
    path = write_official_pickle(tmp_path / "g.pkl", monkeypatch, module_src=src, G_ema=(G, kwargs), D=None)
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")
    H = load_generator(path)
    assert not marker.exists()
    assert generator_identity(H) == generator_identity(G)


def test_stylegan3_era_flat_kwargs_and_discriminator_pickle(tmp_path, monkeypatch):
    G = small_generator(conv_clamp=256, architecture="resnet")
    flat = {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 16, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2}, "channel_base": 128, "channel_max": 16, "conv_clamp": 256,
            "architecture": "resnet", "fused_modconv_default": "inference_only"}
    torch.manual_seed(1)
    d_kwargs = {"c_dim": 0, "img_resolution": 16, "img_channels": 3, "channel_base": 256, "channel_max": 16,
                "block_kwargs": {"freeze_layers": 2}, "epilogue_kwargs": {"mbstd_group_size": 2}}
    D = Discriminator(**d_kwargs).eval()
    path = write_official_pickle(tmp_path / "net.pkl", monkeypatch, G=(G, flat), D=(D, d_kwargs))
    H, E = load_generator(path), load_discriminator(path)
    z = torch.randn([2, 16], generator=torch.Generator().manual_seed(0))
    img = torch.randn([4, 3, 16, 16], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(H(z), G(z)) and torch.equal(E(img), D(img))
    assert "b16.conv0.weight" in dict(E.named_buffers())  # frozen layers stay buffers


def test_bad_files_give_one_line_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pickle.dumps({"G_ema": [1, 2, 3] * 100})[:50])
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    listpkl = tmp_path / "list.pkl"
    listpkl.write_bytes(pickle.dumps([1, 2]))
    for path in (tmp_path / "missing.pkl", text, truncated, other, listpkl, tmp_path):
        with pytest.raises(CheckpointError) as info:
            load_generator(path)
        assert "\n" not in str(info.value) and str(path.name) in str(info.value)


def test_default_generator_absent_says_so_and_present_loads(tmp_path, monkeypatch):
    import inversion.checkpoints.loader as loader

    monkeypatch.setattr(loader, "DEFAULT_GENERATOR_DIR", tmp_path / "default_generator")
    with pytest.raises(FaceLatentError, match="-g"):
        load_generator(None)
    G = small_generator()
    save_generator(G, tmp_path / "default_generator")
    assert generator_identity(load_generator(None)) == generator_identity(G)


def to_rosinality(G: Generator) -> dict:
    """The inverse of the loader's name mapping, written out longhand (test helper)."""
    sd, out = G.state_dict(), {}
    for i in range(G.mapping.num_layers):
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]
    layers = [("conv1", "synthesis.b4.conv1")]
    rgbs = [("to_rgb1", "synthesis.b4.torgb")]
    for k, res in enumerate(G.synthesis.block_resolutions[1:]):
        layers += [(f"convs.{2 * k}", f"synthesis.b{res}.conv0"), (f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1")]
        rgbs.append((f"to_rgbs.{k}", f"synthesis.b{res}.torgb"))
    for j, (src, dst) in enumerate(layers):
        out[f"{src}.conv.weight"] = sd[f"{dst}.weight"][None]
        out[f"{src}.conv.modulation.weight"], out[f"{src}.conv.modulation.bias"] = sd[f"{dst}.affine.weight"], sd[f"{dst}.affine.bias"]
        out[f"{src}.noise.weight"] = sd[f"{dst}.noise_strength"].reshape([1])
        out[f"{src}.activate.bias"] = sd[f"{dst}.bias"]
        out[f"noises.noise_{j}"] = sd[f"{dst}.noise_const"][None, None]
    for src, dst in rgbs:
        out[f"{src}.conv.weight"] = sd[f"{dst}.weight"][None]
        out[f"{src}.conv.modulation.weight"], out[f"{src}.conv.modulation.bias"] = sd[f"{dst}.affine.weight"], sd[f"{dst}.affine.bias"]
        out[f"{src}.bias"] = sd[f"{dst}.bias"].reshape([1, -1, 1, 1])
        out[f"{src}.upsample.kernel"] = torch.ones(4, 4)  # rosinality's fixed filters, ignored on load
    return out


def test_rosinality_checkpoint_loads_and_matches(tmp_path):
    G = small_generator()
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.clone()}, path)
    H = load_generator(path)
    assert generator_identity(H) == generator_identity(G)
    assert infer_config(to_rosinality(G), path)["synthesis_kwargs"]["channel_base"] == 128
    no_avg = tmp_path / "no_avg.pt"
    torch.save({"g_ema": to_rosinality(G)}, no_avg)
    assert torch.isfinite(load_generator(no_avg).mapping.w_avg).all()
    # rosinality's train.py also stores its argparse options; older torch wrote the legacy format.
    import argparse
    full = tmp_path / "train.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.clone(),
                "args": argparse.Namespace(size=16, n_mlp=2)}, full, _use_new_zipfile_serialization=False)
    assert generator_identity(load_generator(full)) == generator_identity(G)


def test_rosinality_upsampling_conv_semantics():
    """One rosinality StyledConv(upsample) computed the way rosinality does, against our mapped layer."""
    G = small_generator()
    layer = G.synthesis.b8.conv0
    x = torch.randn([2, 16, 4, 4], generator=torch.Generator().manual_seed(3))
    w = torch.randn([2, 16], generator=torch.Generator().manual_seed(4))
    ros = to_rosinality(G)
    converted = convert_state_dict(ros, infer_config(ros, Path("x")), None)
    weight = converted["synthesis.b8.conv0.weight"]
    style = F.linear(w, converted["synthesis.b8.conv0.affine.weight"] / 4.0, converted["synthesis.b8.conv0.affine.bias"])
    wm = weight[None] * style[:, None, :, None, None] / np.sqrt(16 * 9)
    wm = wm * torch.rsqrt(wm.square().sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
    wt = wm.transpose(1, 2).reshape(2 * 16, 16, 3, 3)  # conv_transpose2d weight [N*I, O, k, k]
    y = F.conv_transpose2d(x.reshape(1, 32, 4, 4), wt, stride=2, groups=2).reshape(2, 16, 9, 9)
    blur = torch.tensor([1.0, 3, 3, 1])
    k2 = torch.outer(blur, blur) / 64 * 4
    y = F.conv2d(F.pad(y, [1, 1, 1, 1]).reshape(32, 1, 11, 11), k2.flip([0, 1])[None, None]).reshape(2, 16, 8, 8)
    y = y + converted["synthesis.b8.conv0.noise_strength"] * layer.noise_const
    y = F.leaky_relu(y + converted["synthesis.b8.conv0.bias"].reshape(1, -1, 1, 1), 0.2) * np.sqrt(2)
    with torch.no_grad():
        ours = layer(x, w, noise_mode="const", fused_modconv=True)
    assert torch.allclose(ours, y, atol=1e-4)
