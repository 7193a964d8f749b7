"""Checks for the notebooks' "Your turn" exercises: ``harness`` (run, compare, report) and one module per notebook,
``nbNN_<topic>``, holding its ``check_<exercise>(student_fn) -> bool`` functions."""

from glm_mini.exercises.harness import Case, exercise_record, first_mismatch, run_check, use

__all__ = ["Case", "exercise_record", "first_mismatch", "run_check", "use"]
