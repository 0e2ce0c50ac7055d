"""Third-party weights: the resolver (:mod:`inversion.assets.resolver`) and safe loaders.

``resolve_asset(name) -> Path`` is the one way the project finds weights it does not own; see
the resolver module for the lookup order, the cache and the environment variables.
"""

from inversion.assets.resolver import (
    ASSETS,
    Asset,
    asset_info,
    cache_path,
    facelatent_home,
    fetch_assets,
    find_asset,
    resolve_asset,
)

__all__ = [
    "ASSETS",
    "Asset",
    "asset_info",
    "cache_path",
    "facelatent_home",
    "fetch_assets",
    "find_asset",
    "resolve_asset",
]
