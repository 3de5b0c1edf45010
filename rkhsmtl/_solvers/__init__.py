"""Solvers: plain functions on arrays of one namespace, independent of scikit-learn."""

from .fixed import DEFAULT_SOLVER_OPTIONS, SOLVERS, solve_fixed_structure

__all__ = ["DEFAULT_SOLVER_OPTIONS", "SOLVERS", "solve_fixed_structure"]
