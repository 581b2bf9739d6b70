"""How alike two line drawings are: F1 of their line pixels within a distance tolerance.

What the project uses to compare two engines drawing the same model (OpenCascade's exact
hidden-line removal against the mesh line renderer): precision is the share of one
drawing's line pixels that lie within `tolerance` pixels of a line pixel of the other,
recall the same the other way round, F1 their harmonic mean. Lines are read from a
SPARE3D-style image: visible lines black, hidden lines red.
"""

from __future__ import annotations

import cv2
import numpy as np


def line_masks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(visible, hidden) boolean masks of an (H, W, 3) uint8 SPARE3D-style drawing:
    dark pixels are visible lines, red ones hidden lines."""
    r, g = image[..., 0].astype(np.int16), image[..., 1].astype(np.int16)
    return (r < 128) & (g < 128), (r >= 150) & (g < 120)


def line_f1(a: np.ndarray, b: np.ndarray, tolerance: float = 2.0) -> float:
    """F1 of line masks `a` and `b` (boolean, same shape) within `tolerance` pixels; 1 when
    both are empty, 0 when only one is."""
    if a.shape != b.shape:
        raise ValueError(f"masks of different shapes: {a.shape} and {b.shape}")
    na, nb = int(a.sum()), int(b.sum())
    if na == 0 or nb == 0:
        return float(na == nb)
    to_a = cv2.distanceTransform((~a).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_b = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    precision = float((to_b[a] <= tolerance).mean())
    recall = float((to_a[b] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
