"""The human baseline: a web quiz that shows people the benchmark's questions (`app`),
stores every answer as it is given (`store`), and reports people beside the models in the
harness results (`results`)."""
