"""Solvers that are not our networks: the benchmark's questions exported for vision-language
models (`export`), their free-text answers read (`answers`) and scored into the harness
results (`score`); `questions` says what every solver is shown, the human quiz included."""
