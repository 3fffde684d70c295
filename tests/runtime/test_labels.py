"""Plot labels of points that sit together are spread apart so that each stays legible."""

import numpy as np

from edgeport.runtime.measure.plot_labels import spread_labels


def boxes_overlap(a_lo, a_size, b_lo, b_size):
    return bool(np.all(np.minimum(a_lo + a_size, b_lo + b_size) - np.maximum(a_lo, b_lo) > 0))


def test_labels_of_coinciding_points_do_not_overlap_and_stay_inside():
    anchors = np.array([[300.0, 200.0], [301.0, 200.5], [302.0, 199.0], [300.5, 201.0], [303.0, 200.0], [100.0, 50.0]])
    sizes = np.array([[120.0, 10.0]] * 6)
    corners = spread_labels(anchors, sizes, (0, 0, 800, 500))
    for i in range(len(corners)):
        for j in range(i + 1, len(corners)):
            assert not boxes_overlap(corners[i], sizes[i], corners[j], sizes[j]), (i, j)
    assert np.all(corners >= 0) and np.all(corners + sizes <= [800, 500])
    # a label with nothing near it stays where it starts: just beside its point
    np.testing.assert_allclose(corners[5], anchors[5] + [6.0, 4.0])
    np.testing.assert_array_equal(corners, spread_labels(anchors, sizes, (0, 0, 800, 500)))


def test_labels_keep_off_the_markers():
    anchors = np.array([[200.0, 200.0], [210.0, 208.0]])
    sizes = np.array([[80.0, 10.0], [80.0, 10.0]])
    markers = np.array([[195.0, 195.0, 205.0, 205.0], [205.0, 203.0, 215.0, 213.0]])
    corners = spread_labels(anchors, sizes, (0, 0, 800, 500), obstacles=markers)
    for corner, size in zip(corners, sizes):
        for m in markers:
            assert not boxes_overlap(corner, size, m[:2], m[2:] - m[:2])


def test_no_labels_is_no_work():
    assert spread_labels(np.zeros((0, 2)), np.zeros((0, 2)), (0, 0, 800, 500)).shape == (0, 2)
