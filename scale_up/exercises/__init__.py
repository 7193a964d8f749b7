"""Checks for the "Your turn" exercises of notebooks 08-11 (quantization, tensor and pipeline parallelism, full
scale): one module per notebook, ``nbNN_<topic>``, holding its ``check_<exercise>(student_fn) -> bool`` functions,
each comparing the student's function with scale_up's own on seeded cases through glm_mini's harness
(``glm_mini.exercises.harness``). They live here, beside the code they check, because glm_mini never imports scale_up.
"""
