# SPDX-License-Identifier: GPL-2.0
"""Errors a lab user can cause, each naming the input (file and line) and the fix."""


class LabError(Exception):
    """A problem with the user's input or environment: printed without a traceback."""

    def __init__(self, msg, file=None, line=None, fix=None):
        super().__init__(msg)
        self.msg = msg
        self.file = file
        self.line = line
        self.fix = fix

    def __str__(self):
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        fix = f"\n  fix: {self.fix}" if self.fix else ""
        return f"{where}{self.msg}{fix}"


class LabErrors(LabError):
    """Several input problems found in one pass (validation reports all of them at once)."""

    def __init__(self, errors):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = list(errors)

    def __str__(self):
        return "\n".join(str(e) for e in self.errors)


class Collector:
    """Gathers validation errors so that a user sees every problem of a file in one run."""

    def __init__(self, file):
        self.file = file
        self.errors = []

    def add(self, msg, line=None, fix=None):
        self.errors.append(LabError(msg, self.file, line, fix))

    def raise_if_any(self):
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise LabErrors(self.errors)
