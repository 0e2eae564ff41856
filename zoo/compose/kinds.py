"""The kinds of components the zoo composes (kept import-light for the CLI's help)."""

KINDS: tuple[str, ...] = (
    "backbones", "heads", "losses", "imbalance", "datasets", "metrics", "trackers", "models",
)  # fmt: skip

# The singular noun for messages: "backbone 'x'".
KIND_NOUN: dict[str, str] = {
    "backbones": "backbone",
    "heads": "head",
    "losses": "loss",
    "imbalance": "imbalance strategy",
    "datasets": "dataset",
    "metrics": "metric",
    "trackers": "tracker",
    "models": "trained model",
}
