"""Composing a recipe: the plugins and their hooks, the registry of components, the recipe schema
and its validation."""
