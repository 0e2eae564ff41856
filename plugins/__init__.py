"""The zoo's built-in components, installed as `zoo_plugins` and loaded like any plugin.

Each subpackage is one plugin, declared in the zoo's `[project.entry-points.zoo]`. Its
`__init__` registers components with their params models and `"module:attr"` factories only,
so loading plugins never imports torch.
"""
