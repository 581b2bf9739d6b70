"""The controlled-experiment harness: suites of generate, pretrain, train and evaluate
stages, stored by content hash so that finished work is never redone, a SQLite results
database, and the statistics the reports use (`spare3d bench`, `spare3d results`)."""
