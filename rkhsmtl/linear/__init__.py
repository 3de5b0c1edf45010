"""Regularised linear multi-task learning (the MALSAR / RMTL family)."""
