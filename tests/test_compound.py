"""Compound classification of the epochs (Swain 1978): forward-backward against hand values and
against the enumeration of every class sequence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pfatlas.landcover.compound import compound_posteriors, transition_matrix


def _random_proba(rng, k, n):
    p = rng.random((k, n))
    return p / p.sum(axis=0)


def test_transition_matrix_rows_sum_to_one_and_bad_prior_is_refused():
    t = transition_matrix(4, 0.3)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    assert t[0, 0] == pytest.approx(0.7) and t[0, 1] == pytest.approx(0.1)
    assert transition_matrix(1, 0.3).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="change_prior"):
        transition_matrix(3, 1.5)


def test_two_epochs_two_classes_by_hand():
    # p0 = (0.6, 0.4), p1 = (0.45, 0.55), equal training shares, change prior 0.1:
    # l1 = p1 / q = (0.9, 1.1); epoch 0: p0 * T l1 = (0.6 * 0.92, 0.4 * 1.08) -> (0.5610, 0.4390);
    # epoch 1: l1 * T' p0 = (0.9 * 0.58, 1.1 * 0.42) -> (0.5305, 0.4695): the second epoch's weak
    # preference for class 2 gives way to the first epoch's evidence for class 1
    p0 = np.array([[0.6], [0.4]])
    p1 = np.array([[0.45], [0.55]])
    q = np.array([0.5, 0.5])
    post0, post1 = compound_posteriors([p0, p1], [q, q], 0.1)
    np.testing.assert_allclose(post0[:, 0], [0.552 / 0.984, 0.432 / 0.984], rtol=1e-6)
    np.testing.assert_allclose(post1[:, 0], [0.522 / 0.984, 0.462 / 0.984], rtol=1e-6)


def test_forward_backward_equals_the_enumeration_of_every_sequence():
    rng = np.random.default_rng(3)
    k, n, epochs, pi = 3, 5, 3, 0.25
    proba = [_random_proba(rng, k, n) for _ in range(epochs)]
    priors = [rng.random(k) + 0.2 for _ in range(epochs)]
    priors = [q / q.sum() for q in priors]
    post = compound_posteriors(proba, priors, pi)
    t = transition_matrix(k, pi)
    for cell in range(n):
        joint = np.zeros((k,) * epochs)
        for seq in itertools.product(range(k), repeat=epochs):
            w = priors[0][seq[0]] * proba[0][seq[0], cell] / priors[0][seq[0]]
            for e in range(1, epochs):
                w *= t[seq[e - 1], seq[e]] * proba[e][seq[e], cell] / priors[e][seq[e]]
            joint[seq] = w
        joint /= joint.sum()
        for e in range(epochs):
            other = tuple(a for a in range(epochs) if a != e)
            np.testing.assert_allclose(post[e][:, cell], joint.sum(axis=other), rtol=1e-5)


def test_one_epoch_or_a_uniform_transition_gives_each_forest_its_own_probabilities():
    rng = np.random.default_rng(5)
    k, n = 4, 50
    proba = [_random_proba(rng, k, n) for _ in range(2)]
    q = np.full(k, 1 / k)
    (alone,) = compound_posteriors(proba[:1], [q], 0.2)
    np.testing.assert_allclose(alone, proba[0], rtol=1e-6)
    # a change to any class as likely as no change: the epochs tell nothing about each other
    post = compound_posteriors(proba, [q, q], (k - 1) / k)
    for p, own in zip(post, proba, strict=True):
        np.testing.assert_allclose(p, own, rtol=1e-5)


def test_a_class_new_in_the_later_epoch_survives_strong_evidence_and_is_impossible_before():
    # class 2 (say, a pit) is not in the first epoch's forest (training share 0)
    p0 = np.array([[1.0], [0.0]])
    p1 = np.array([[0.05], [0.95]])
    post0, post1 = compound_posteriors([p0, p1], [np.array([1.0, 0.0]), np.array([0.5, 0.5])], 0.2)
    assert post0[1, 0] == 0.0 and post0[0, 0] == pytest.approx(1.0)
    assert post1[1, 0] > 0.8  # (0.1 * 0.8, 1.9 * 0.2) -> 0.83


def test_an_epoch_without_observation_carries_no_evidence():
    rng = np.random.default_rng(9)
    p0 = _random_proba(rng, 3, 4)
    p1 = _random_proba(rng, 3, 4)
    p1[:, 1] = np.nan
    q = np.full(3, 1 / 3)
    post0, post1 = compound_posteriors([p0, p1], [q, q], 0.1)
    assert np.isnan(post1[:, 1]).all() and np.isfinite(post1[:, [0, 2, 3]]).all()
    np.testing.assert_allclose(post0[:, 1], p0[:, 1], rtol=1e-6)  # the first epoch's own
    assert not np.allclose(post0[:, 0], p0[:, 0])  # elsewhere the second epoch counts
