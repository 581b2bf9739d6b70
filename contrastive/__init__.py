"""Self-supervised spatial reasoning: the binary view-comparison network and its pair
pretext (`comparison`), the pose pretext (`pose`), their shared four-branch network
(`branches`) and losses (`losses`). Models register under `spare3d.models`, methods
under `spare3d.methods` (setup.cfg): the one training loop in `spare3d_bench.train`
drives them."""
