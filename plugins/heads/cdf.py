"""head 'cdf': not built yet (arrives with the models-and-training issue)."""

from typing import Any

from zoo.errors import NotBuiltError


def build(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "head 'cdf' is not built yet", hint="it arrives with the models-and-training issue"
    )
