"""erosion zoo: train, compare and apply models that score bone erosion in finger-joint X-rays.

Plugin authors need only `hookimpl`:

    from zoo import hookimpl

    @hookimpl
    def zoo_register_backbones(register):
        register("my_net", "my_pkg.net:build", params=MyParams, description="...")
"""

from importlib.metadata import PackageNotFoundError, version

from zoo.compose.hookspecs import hookimpl

try:
    __version__ = version("erosion-zoo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "hookimpl"]
