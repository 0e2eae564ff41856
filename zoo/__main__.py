"""`python -m zoo` (used by `torchrun -m zoo run RECIPE`)."""

from zoo.cli import main

main()
