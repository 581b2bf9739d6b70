"""The SPARE3D benchmark: model generation, tasks, data, training, evaluation and the CLI."""

__version__ = "0.1.0"
