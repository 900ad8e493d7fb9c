# SPDX-License-Identifier: GPL-2.0
"""Shared by the lab's unit tests: import path, temp files, and a main() that ends with the
line tests/run.sh counts: "N passed, N failed"."""
import os
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "lab"))
sys.path.insert(0, os.path.join(REPO, "traffic"))


def write_tmp(text, suffix=".yaml"):
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="labtest-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
