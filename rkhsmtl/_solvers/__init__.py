"""Solvers: plain functions on arrays of one namespace, independent of scikit-learn."""

from .fixed import solve_fixed_structure
from .plan import DEFAULT_SOLVER_OPTIONS, SOLVERS, describe_problem, plan_fixed_solver

__all__ = ["DEFAULT_SOLVER_OPTIONS", "SOLVERS", "describe_problem", "plan_fixed_solver",
           "solve_fixed_structure"]
