"""The SPARE3D supervised baselines: early fusion (`<backbone>-early`) and late fusion /
metric learning (`<backbone>-late`), registered as `spare3d.models` entry points."""
