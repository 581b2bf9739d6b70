"""The SPARE3D supervised baselines (early fusion, late fusion / metric). Arrives with issue 6."""
