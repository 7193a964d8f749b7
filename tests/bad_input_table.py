"""Print the bad-input table per surface from a real run of the tests/test_bad_input_*.py cases.

Usage (from the repo root): ``python tests/bad_input_table.py``. Every case is a pytest parameter whose id starts
with ``error-`` (a clear error is expected: the right type, naming the argument or file) or ``right-`` (a right
result is expected). A failing case is "data loss" when a file the case declared as the user's (``Case.keeps``) was
changed or deleted by the call, whatever else happened (``bad_input_cases.run`` compares the files' bytes before and
after, and fails with "DATA LOSS"); else "silent/wrong" when no error came (pytest's "DID NOT RAISE"), a damaged
cache was used without a word ("DID NOT WARN") or a wrong result was returned, and "unclear error" when an error came
of another type or without naming the argument/file.
Tests that are not cases are listed apart. Run it on an older checkout (copy this file and the case modules there)
to get the "before" table.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from bad_input_cases import DATA_LOSS

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    modules = sorted((ROOT / "tests").glob("test_bad_input_*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        *map(str, modules)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       stdout=subprocess.DEVNULL)
        cases = ET.parse(report).getroot().iter("testcase")
        counts: dict[str, Counter] = {}
        for case in cases:
            surface = case.get("classname").split(".")[-1].removeprefix("test_bad_input_")
            name = case.get("name")
            kind = name[name.index("[") + 1:].split("-")[0] if "[" in name else "other"
            kind = kind if kind in ("error", "right") else "other"  # a parametrized test that is not a Case
            failures = [f"{child.get('message')} {child.text}" for child in case if child.tag in ("failure", "error")]
            c = counts.setdefault(surface, Counter())
            c["tried"] += kind != "other"
            if not failures:
                c[f"{kind}-ok"] += 1
            elif kind == "other":
                c["other-failed"] += 1
            elif DATA_LOSS in failures[0]:
                c["data loss"] += 1
            elif any(sign in failures[0] for sign in ("DID NOT RAISE", "DID NOT WARN", "wrong result")):
                c["silent"] += 1
            else:
                c["unclear"] += 1
    print("| surface | cases tried | clear errors | right results | unclear errors | silent/wrong | data loss | "
          "other tests |")
    print("|---|---|---|---|---|---|---|---|")
    for surface, c in counts.items():
        print(f"| {surface} | {c['tried']} | {c['error-ok']} | {c['right-ok']} | {c['unclear']} | {c['silent']} | "
              f"{c['data loss']} | {c['other-ok']}/{c['other-ok'] + c['other-failed']} passed |")
    bad = ("unclear", "silent", "data loss", "other-failed")
    return 0 if all(sum(c[k] for k in bad) == 0 for c in counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
