"""Building and caching the kernels: cache reuse, a key that follows the sources, failed builds."""

from __future__ import annotations

import shutil
import time
import warnings

import pytest

from cuda_ops import OpsUnavailableError
from cuda_ops.builder import MARKER, SOURCE_DIR, OpsBuilder, build_key, default_builder, why_not_buildable

needs_cpp = pytest.mark.skipif(why_not_buildable("cpp") is not None, reason=f"no C++ toolchain: {why_not_buildable('cpp')}")


@needs_cpp
def test_second_builder_loads_from_cache_without_building():
    first = default_builder()
    first.require("cpp")  # builds once per cache (a minute or two), else loads
    final = first.final_dir("cpp")
    assert (final / MARKER).exists()
    again = OpsBuilder(cache_root=first.root())
    start = time.perf_counter()
    module = again.require("cpp")
    assert time.perf_counter() - start < 5.0
    assert again.built["cpp"] is False and again.build_attempts.get("cpp", 0) == 0
    assert hasattr(module, "bias_act") and hasattr(module, "upfirdn2d")
    assert again.status("cpp")[1].startswith("loaded from cache")


def test_build_key_follows_sources(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, src)
    key = build_key("cpp", src)
    assert build_key("cpp", src) == key
    (src / "ops_cuda.cu").write_text((src / "ops_cuda.cu").read_text() + "\n// edit\n")
    assert build_key("cpp", src) == key  # a CUDA-only edit does not rebuild the CPU module
    (src / "common.h").write_text((src / "common.h").read_text() + "\n// edit\n")
    assert build_key("cpp", src) != key


@needs_cpp
def test_failed_build_warns_once_and_is_not_retried(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, src)
    broken = src / "ops_cpu.cpp"
    broken.write_text('#include "facelatent_header_that_does_not_exist.h"\n' + broken.read_text())
    builder = OpsBuilder(cache_root=tmp_path / "cache", source_dir=src)
    with pytest.warns(RuntimeWarning, match="cpp kernels are unavailable: build failed"):
        assert builder.get("cpp") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert builder.get("cpp") is None  # no second warning, no second build
    with pytest.raises(OpsUnavailableError, match="facelatent_header_that_does_not_exist"):
        builder.require("cpp")
    assert builder.build_attempts["cpp"] == 1
    assert not any(p.name.startswith("cpp-") for p in (tmp_path / "cache").iterdir())
