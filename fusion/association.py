"""Association of one scan's detections to tracks: coarse spatial pre-filter, then global nearest neighbour.

Only pairs that survive a cheap Euclidean bound get a Mahalanobis distance, so the cost of a scan
grows with the number of plausible pairs, not with tracks x detections.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

Array = NDArray[np.float64]
Index = NDArray[np.intp]

_EMPTY: Index = np.zeros(0, dtype=np.intp)
_UNGATED = 1e12
"""Cost of a pair outside the gate inside an assignment problem: never chosen if anything else fits."""


def candidate_pairs(track_pos: Array, track_radius: Array, det_pos: Array, det_radius: Array) -> tuple[Index, Index]:
    """Pairs (track, detection) whose distance is at most the sum of their radii, sorted by (detection, track).

    With radius = sqrt(gate * trace(covariance)) per side this keeps every pair that can pass the
    Mahalanobis gate, since yᵀS⁻¹y ≥ |y|² / trace(S).
    """
    if track_pos.shape[0] == 0 or det_pos.shape[0] == 0:
        return _EMPTY, _EMPTY
    reach = float(det_radius.max())
    low = det_pos.min(axis=0) - reach - track_radius[:, None]
    high = det_pos.max(axis=0) + reach + track_radius[:, None]
    near = np.flatnonzero(np.all((track_pos >= low) & (track_pos <= high), axis=1))
    if near.size == 0:
        return _EMPTY, _EMPTY
    found = cKDTree(det_pos).query_ball_point(track_pos[near], track_radius[near] + reach)
    counts = np.fromiter(map(len, found), dtype=np.intp, count=len(found))
    tracks = np.repeat(near, counts)
    dets = np.fromiter(itertools.chain.from_iterable(found), dtype=np.intp, count=int(counts.sum()))
    dist = np.linalg.norm(track_pos[tracks] - det_pos[dets], axis=1)
    keep = dist <= track_radius[tracks] + det_radius[dets]
    tracks, dets = tracks[keep], dets[keep]
    order = np.lexsort((tracks, dets))
    return tracks[order], dets[order]


def assign(n_tracks: int, n_dets: int, tracks: Index, dets: Index, cost: Array) -> tuple[Index, Index]:
    """Global nearest neighbour over gated pairs: each detection and each track used at most once.

    The problem splits into independent clusters (connected components of the gated pairs); a cluster
    of one pair is assigned directly and the rest go to `linear_sum_assignment`, which maximises the
    number of pairs and, among those, minimises the summed cost.
    """
    if tracks.size == 0:
        return _EMPTY, _EMPTY
    graph = coo_matrix((np.ones(tracks.size), (tracks, n_tracks + dets)), shape=(n_tracks + n_dets,) * 2)
    _, label = connected_components(graph, directed=False)
    pair_label = label[tracks]
    pairs_in = np.bincount(pair_label)
    single = pairs_in[pair_label] == 1
    out_t, out_d = [tracks[single]], [dets[single]]
    multi = np.flatnonzero(~single)
    order = multi[np.argsort(pair_label[multi], kind="stable")]
    bounds = np.flatnonzero(np.diff(pair_label[order])) + 1
    for group in np.split(order, bounds) if order.size else []:
        t_ids, t_local = np.unique(tracks[group], return_inverse=True)
        d_ids, d_local = np.unique(dets[group], return_inverse=True)
        matrix = np.full((t_ids.size, d_ids.size), _UNGATED)
        matrix[t_local, d_local] = cost[group]
        rows, cols = linear_sum_assignment(matrix)
        real = matrix[rows, cols] < _UNGATED
        out_t.append(t_ids[rows[real]])
        out_d.append(d_ids[cols[real]])
    return np.concatenate(out_t), np.concatenate(out_d)
