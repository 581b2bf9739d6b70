"""The SPARE3D benchmark: model generation, tasks, data, training, evaluation and the CLI."""

__version__ = "0.1.0"

#: Bumped whenever a change to the code alters what an unchanged `spare3d train` or
#: `spare3d pretrain` command computes, its defaults included. The experiment harness's
#: cached training stages key on it, and a checkpoint records it, so that no stage is
#: reused and no run resumed across such a change. Here, not in `methods`, so that
#: reading it loads no torch.
#: 2: the pretraining methods' own batch, learning rate, weight decay and warm-up by
#: default; plain-momentum SGD; CLSA's multi-crop DDM summed over the crops; MoCo v2's
#: projection head without batch norm for MoCo, CLSA and DisCo.
#: 3: CLSA's strong views drawn from a seed of their own, not the noise's.
TRAINING_REVISION = 3
