"""the imbalance strategies: not built yet (arrives with the models-and-training issue)."""

from typing import Any

from zoo.errors import NotBuiltError


def build_none(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the imbalance strategies is not built yet",
        hint="it arrives with the models-and-training issue",
    )


def build_oversample(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the imbalance strategies is not built yet",
        hint="it arrives with the models-and-training issue",
    )


def build_class_weights(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the imbalance strategies is not built yet",
        hint="it arrives with the models-and-training issue",
    )
