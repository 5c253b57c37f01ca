"""The Python suites' checks: each prints ok or FAIL with what it checked, and summary() gives
the exit code (the number failed, printed)."""
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def summary():
    print(f"{len(failures)} check(s) failed")
    return 1 if failures else 0
