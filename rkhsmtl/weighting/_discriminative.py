"""Density ratios from probabilistic classifiers (Bickel et al. 2008, 2009).

Bayes' rule turns a classifier's posterior into a density ratio once the class
prior is divided out. For tasks: ``p(z | t) / p(z) = q(t | z) / pi_t`` with
``pi_t = n_t / n``; forgetting the division by ``pi_t`` scales task t's weights by
its prior and starves small tasks.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_array, check_is_fitted

from .._backend import array_device, get_namespace, to_namespace, to_numpy
from .._base import VersionedStateMixin
from .._validation import check_input_scale

__all__ = ["ClassifierDensityRatio", "TaskPosteriorRatio"]


def _make_classifier(classifier, kernel, n_components, gamma, C, random_state, n_samples):
    if classifier is not None:
        if not hasattr(classifier, "fit") or not hasattr(classifier, "predict_proba"):
            raise ValueError(
                "classifier must be a scikit-learn classifier with predict_proba, got "
                f"{classifier!r}.")
        return clone(classifier)
    # No scaling step: the features are used as given, so that the relative scale
    # of inputs and label (DistributionMatchingMTL's label_scale) keeps its effect.
    logistic = LogisticRegression(C=C, max_iter=1000)
    if kernel is None:
        return logistic
    if kernel != "rbf":
        raise ValueError(f"kernel must be None or 'rbf', got {kernel!r}.")
    return make_pipeline(
        Nystroem(kernel="rbf", gamma=gamma, n_components=min(n_components, n_samples),
                 random_state=random_state),
        logistic)


def _host_features(Z):
    """Features on the host (scikit-learn classifiers are NumPy-only here)."""
    return check_array(to_numpy(Z) if hasattr(Z, "shape") else Z, dtype=np.float64)


class TaskPosteriorRatio(VersionedStateMixin, BaseEstimator):
    r"""Multi-task density ratios from a probabilistic task classifier.

    Fits a classifier of the task index ``t`` from features ``z`` (the input ``x``,
    or the pair ``(x, y)``) on the pool of every task's examples and returns, for
    every example and task,

    .. math::

        r_t(z) = \frac{p(z \mid t)}{p(z)} = \frac{q(t \mid z)}{\pi_t},
        \qquad \pi_t = n_t / n,

    the weight that makes the pool look like task ``t`` (Bickel et al. 2008).
    Equivalently :math:`r_t` is the relative density ratio of task ``t`` against
    the other tasks with relative parameter :math:`\alpha = \pi_t`
    (see `RuLSIF`), hence :math:`r_t \le 1/\pi_t`.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    classifier : classifier or None, default=None
        Any scikit-learn classifier with ``predict_proba`` (cloned). ``None`` means
        multinomial :class:`~sklearn.linear_model.LogisticRegression` (``C``), after
        an RBF Nystroem feature map when ``kernel="rbf"``. The features are used as
        given: standardise them first (:class:`~rkhsmtl.DistributionMatchingMTL`
        does).
    kernel : {None, "rbf"}, default=None
        Kernel option of the default classifier.
    n_components : int, default=100
        Nystroem features (``kernel="rbf"``; at most the number of examples).
    gamma : float or None, default=None
        RBF parameter (``None``: ``1 / n_features``).
    C : float, default=1.0
        Inverse regularisation of the default logistic regression.
    random_state : int or None, default=None
        Seeds the Nystroem map.

    Attributes
    ----------
    classifier_ : classifier
        The fitted task classifier.
    priors_ : ndarray of shape (n_tasks,)
        Task proportions ``n_t / n`` in the training pool.
    n_tasks_ : int
    n_features_in_ : int

    References
    ----------
    S. Bickel, J. Bogojeska, T. Lengauer and T. Scheffer. Multi-task learning for
    HIV therapy screening. ICML 2008.
    """

    def __init__(self, classifier=None, *, kernel=None, n_components=100, gamma=None,
                 C=1.0, random_state=None):
        self.classifier = classifier
        self.kernel = kernel
        self.n_components = n_components
        self.gamma = gamma
        self.C = C
        self.random_state = random_state

    def fit(self, Z, task, n_tasks=None):
        """Fit the task classifier.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Features of the pooled examples.
        task : array-like of int, shape (n_samples,)
            Task index (0 .. n_tasks - 1) of each example.
        n_tasks : int or None, default=None
            Number of tasks (``max(task) + 1`` if omitted).

        Returns
        -------
        self : object
        """
        Zh = _host_features(Z)
        task = np.asarray(to_numpy(task) if hasattr(task, "shape") else task)
        if task.shape != (Zh.shape[0],) or not np.issubdtype(task.dtype, np.integer):
            raise ValueError("task must be an integer array of shape (n_samples,).")
        n_tasks = int(task.max()) + 1 if n_tasks is None else int(n_tasks)
        if task.min() < 0 or task.max() >= n_tasks:
            raise ValueError(f"task indices must lie in [0, {n_tasks}).")
        counts = np.bincount(task, minlength=n_tasks)
        if np.any(counts == 0):
            raise ValueError(f"Task(s) {np.flatnonzero(counts == 0).tolist()} have no "
                             "example in the pool.")
        if not isinstance(self.C, numbers.Real) or not self.C > 0:
            raise ValueError(f"C must be a positive number, got {self.C!r}.")
        self.priors_ = counts / counts.sum()
        self.n_tasks_ = n_tasks
        self.n_features_in_ = Zh.shape[1]
        if n_tasks == 1:
            self.classifier_ = None
            return self
        self.classifier_ = _make_classifier(self.classifier, self.kernel,
                                            self.n_components, self.gamma, self.C,
                                            self.random_state, Zh.shape[0])
        self.classifier_.fit(Zh, task)
        return self

    def posterior(self, Z):
        """Task posteriors ``q(t | z)``, on the host.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Features of the examples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_tasks)
        """
        check_is_fitted(self, "priors_")
        Zh = _host_features(Z)
        if self.classifier_ is None:
            return np.ones((Zh.shape[0], 1))
        proba = self.classifier_.predict_proba(Zh)
        out = np.zeros((Zh.shape[0], self.n_tasks_))
        out[:, np.asarray(self.classifier_.classes_, dtype=int)] = proba
        return out

    def ratio(self, Z):
        """Weights ``r_t(z) = q(t | z) / pi_t`` for every task.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            Features of the examples.

        Returns
        -------
        R : array of shape (n_samples, n_tasks)
            In the namespace (and on the device) of ``Z``.
        """
        R = self.posterior(Z) / self.priors_[None, :]
        return _like(R, Z)


def _like(a, Z):
    if hasattr(Z, "shape"):
        xp = get_namespace(Z)
        return to_namespace(a, xp, array_device(Z))
    return a


class ClassifierDensityRatio(VersionedStateMixin, BaseEstimator):
    r"""Two-sample density ratio from a probabilistic classifier.

    Labels the numerator sample 1 and the denominator sample 0, fits the classifier
    and returns

    .. math::

        r(x) = \frac{p_{nu}(x)}{p_{de}(x)}
        = \frac{q(1 \mid x)}{q(0 \mid x)} \cdot \frac{n_{de}}{n_{nu}}.

    Same interface as `ULSIF`, `RuLSIF` and `KLIEP`.

    Read more in the :ref:`User Guide <distribution_matching>`.

    Parameters
    ----------
    classifier, kernel, n_components, gamma, C, random_state
        As in `TaskPosteriorRatio`.
    clip_proba : float, default=1e-6
        ``q(0 | x)`` is clipped below at this value so the ratio stays finite.

    Attributes
    ----------
    classifier_ : classifier
    n_numerator_, n_denominator_ : int
    n_features_in_ : int
    """

    def __init__(self, classifier=None, *, kernel=None, n_components=100, gamma=None,
                 C=1.0, clip_proba=1e-6, random_state=None):
        self.classifier = classifier
        self.kernel = kernel
        self.n_components = n_components
        self.gamma = gamma
        self.C = C
        self.clip_proba = clip_proba
        self.random_state = random_state

    def fit(self, X_numerator, X_denominator):
        """Fit the classifier numerator (1) vs denominator (0).

        Parameters
        ----------
        X_numerator : array-like of shape (n_nu, n_features)
            Sample of the numerator density ``p_nu``.
        X_denominator : array-like of shape (n_de, n_features)
            Sample of the denominator density ``p_de``.

        Returns
        -------
        self : object
        """
        Xn, Xd = _host_features(X_numerator), _host_features(X_denominator)
        if Xn.shape[1] != Xd.shape[1]:
            raise ValueError("X_numerator and X_denominator have different numbers of "
                             "features.")
        self.classifier_ = _make_classifier(self.classifier, self.kernel,
                                            self.n_components, self.gamma, self.C,
                                            self.random_state,
                                            Xn.shape[0] + Xd.shape[0])
        Z = np.vstack([Xn, Xd])
        # The classifier's solver would only report a failed line search.
        check_input_scale(Z, np, "X_numerator and X_denominator", warn=False)
        labels = np.r_[np.ones(Xn.shape[0], dtype=int), np.zeros(Xd.shape[0], dtype=int)]
        self.classifier_.fit(Z, labels)
        self.n_numerator_, self.n_denominator_ = Xn.shape[0], Xd.shape[0]
        self.n_features_in_ = Xn.shape[1]
        return self

    def ratio(self, X):
        """Estimated ratio ``p_nu(x) / p_de(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points at which to evaluate the ratio.

        Returns
        -------
        r : array of shape (n_samples,)
            In the namespace of ``X``.
        """
        check_is_fitted(self, "classifier_")
        proba = self.classifier_.predict_proba(_host_features(X))
        classes = list(self.classifier_.classes_)
        p1 = proba[:, classes.index(1)]
        p0 = np.maximum(proba[:, classes.index(0)], self.clip_proba)
        return _like(p1 / p0 * (self.n_denominator_ / self.n_numerator_), X)
