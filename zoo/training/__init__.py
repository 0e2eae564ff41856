"""Training a run: the device, the model, the trainer and its checkpoints, the run folder, and
`launch`, which takes a recipe from start to judged run."""
