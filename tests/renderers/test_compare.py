"""Line F1 between two drawings, on masks whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from renderers.compare import line_f1, line_masks


def _line(row: int, size: int = 40) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[row, 5:35] = True
    return m


def test_a_line_moved_within_the_tolerance_matches_and_beyond_it_does_not():
    assert line_f1(_line(10), _line(10)) == 1.0
    assert line_f1(_line(10), _line(12), tolerance=2) == 1.0
    assert line_f1(_line(10), _line(13), tolerance=2) == 0.0


def test_f1_of_a_drawing_missing_half_its_lines():
    full = _line(10) | _line(30)
    # precision 1 (every pixel of the half is on the full drawing), recall 1/2: F1 = 2/3
    assert line_f1(_line(10), full) == pytest.approx(2 / 3)
    assert line_f1(np.zeros((40, 40), bool), np.zeros((40, 40), bool)) == 1.0
    assert line_f1(np.zeros((40, 40), bool), full) == 0.0
    with pytest.raises(ValueError, match="different shapes"):
        line_f1(full, full[:20])


def test_masks_read_black_visible_and_red_hidden_lines():
    img = np.full((4, 4, 3), 255, np.uint8)
    img[0, 0] = (0, 0, 0)
    img[1, 1] = (255, 0, 0)
    visible, hidden = line_masks(img)
    assert visible.sum() == 1 and visible[0, 0] and hidden.sum() == 1 and hidden[1, 1]
