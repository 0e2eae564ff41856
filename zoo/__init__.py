"""erosion zoo: train, compare and apply models that score bone erosion in finger-joint X-rays.

Plugin authors need only `hookimpl`:

    from zoo import hookimpl

    @hookimpl
    def zoo_register_backbones(register):
        register("my_net", "my_pkg.net:build", params=MyParams, description="...")
"""

from zoo.compose.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> str:
    """`zoo.__version__`, read from the installed metadata when first asked for (importing
    `importlib.metadata` is a third of `zoo --help`'s own time)."""
    if name != "__version__":
        raise AttributeError(f"module 'zoo' has no attribute '{name}'")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("erosion-zoo")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
