"""Recipes to trained, evaluated, compared and refined models: the recipe format, run folders (protection, lock,
resume), `train_recipe` / `compare_recipe` / `refine_model`, plots, and the `hf-mtl` command line.

The top layer: it imports every other folder and nothing imports it.
"""
