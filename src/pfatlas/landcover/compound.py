"""Compound classification of the epochs: each cell's classes in all epochs decided together.

Classifying each epoch on its own and comparing the maps (post-classification comparison) turns
every classification error into a change: two maps 90 % correct disagree on up to 20 % of the
cells where nothing changed. The compound (cascade) classifier of Swain (1978) instead treats the
sequence of classes of a cell as a Markov chain with a small prior probability of change between
consecutive epochs, and each epoch's forest as the evidence of its observation:

    P(c_0 .. c_T | x_0 .. x_T)  ~  q_0(c_0) prod_t l_t(c_t)  prod_t T(c_{t-1} -> c_t)

with ``l_t(c) = p_t(c | x_t) / q_t(c)`` the forest's probability divided by its training class
share (the likelihood up to a factor, Bayes' rule with the forest's own prior), and
``T = (1 - pi) I + pi / (K - 1) (1 - I)``: a cell keeps its class with probability ``1 - pi`` and
moves to any other class with equal probability. The marginal posterior of each epoch comes from the
forward-backward recursion (Rabiner 1989). Where the ground did not change, the epochs' independent
looks at it add up; where it did, strong evidence in one epoch overrides the prior. One epoch, or
``pi = (K - 1) / K`` (T uniform), gives back each forest's own probabilities.

Swain P.H. (1978) Bayesian classification in a time-varying environment. IEEE Transactions on
Systems, Man, and Cybernetics 8(12): 879-883. Rabiner L.R. (1989) A tutorial on hidden Markov models
and selected applications in speech recognition. Proceedings of the IEEE 77(2): 257-286.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["transition_matrix", "compound_posteriors"]


def transition_matrix(k: int, change_prior: float) -> np.ndarray:
    """``(k, k)`` matrix of P(class j at the next epoch | class i now): ``1 - change_prior`` on the
    diagonal, the rest shared equally among the other classes."""
    if not 0.0 <= change_prior <= 1.0:
        raise ValueError(f"change_prior must be in [0, 1], got {change_prior}")
    if k == 1:
        return np.ones((1, 1))
    t = np.full((k, k), change_prior / (k - 1))
    np.fill_diagonal(t, 1.0 - change_prior)
    return t


def _normalised(a: np.ndarray) -> np.ndarray:
    s = a.sum(axis=0, keepdims=True)
    return a / np.where(s > 0, s, 1.0)


def compound_posteriors(
    proba: Sequence[np.ndarray], priors: Sequence[np.ndarray], change_prior: float
) -> list[np.ndarray]:
    """Posterior class probabilities of every epoch given the evidence of all epochs.

    Parameters
    ----------
    proba
        One array per epoch in time order, shape ``(K, n)``: the epoch's forest probabilities over
        the same K classes (0 for a class its forest does not have), a column of NaN where the epoch
        has no observation (it then carries no evidence).
    priors
        One ``(K,)`` array per epoch: the class shares its forest was trained with (0 for the
        classes it does not have; a class absent from an epoch's forest is impossible in it).
    change_prior
        Probability that a cell changes class between two consecutive epochs.

    Returns
    -------
    list of ``(K, n)`` float32 arrays
        Posterior probabilities (columns sum to 1), NaN where the epoch's own ``proba`` is NaN.
        Where the epochs' evidence is incompatible (every sequence has probability 0), the
        epoch's forest probabilities are returned unchanged.
    """
    if len(proba) != len(priors) or not proba:
        raise ValueError("one probability array and one prior per epoch are needed")
    k = proba[0].shape[0]
    trans = transition_matrix(k, change_prior)
    lik = []
    for p, q in zip(proba, priors, strict=True):
        q = np.asarray(q, dtype=np.float64).reshape(k, 1)
        p = np.asarray(p, dtype=np.float64)
        missing = np.isnan(p).any(axis=0)
        l_t = np.where(q > 0, np.nan_to_num(p) / np.where(q > 0, q, 1.0), 0.0)
        l_t[:, missing] = (q > 0).astype(np.float64)  # no observation: every possible class alike
        lik.append(l_t)
    n_t = len(proba)
    first_prior = np.asarray(priors[0], dtype=np.float64).reshape(k, 1)
    alpha = [_normalised(first_prior * lik[0])]
    for t in range(1, n_t):
        alpha.append(_normalised(lik[t] * (trans.T @ alpha[-1])))
    beta = [np.ones_like(alpha[0])] * n_t
    for t in range(n_t - 2, -1, -1):
        beta[t] = _normalised(trans @ (lik[t + 1] * beta[t + 1]))
    out = []
    for t in range(n_t):
        post = alpha[t] * beta[t]
        s = post.sum(axis=0)
        own = np.asarray(proba[t], dtype=np.float64)
        post = np.where(s > 0, post / np.where(s > 0, s, 1.0), own)
        post[:, np.isnan(own).any(axis=0)] = np.nan
        out.append(post.astype(np.float32))
    return out
