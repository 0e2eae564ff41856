"""the timm backbones: not built yet (arrives with the models-and-training issue)."""

from typing import Any

from zoo.errors import NotBuiltError


def build_inception_v3(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the timm backbones is not built yet", hint="it arrives with the models-and-training issue"
    )


def build_resnet18(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the timm backbones is not built yet", hint="it arrives with the models-and-training issue"
    )


def build_resnet34(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the timm backbones is not built yet", hint="it arrives with the models-and-training issue"
    )


def build_resnet50(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the timm backbones is not built yet", hint="it arrives with the models-and-training issue"
    )


def build_any(params: Any, **context: Any) -> Any:
    """Raise: this component is registered but not built yet."""
    raise NotBuiltError(
        "the timm backbones is not built yet", hint="it arrives with the models-and-training issue"
    )
