"""The evaluation lessons of notebook 07, measured on the reference models (``glm_mini.reference``).

Files: ``right_context`` (lesson "bidirectional": blanks fixed by the text to their right, and validation tokens
fixed by their right neighbour), ``generation`` (lessons "mip" and "gmask": held-out questions and long completions,
generated), ``verdict`` (the ``lesson <name>: shown|not shown (...)`` lines, computed from the numbers).
"""
