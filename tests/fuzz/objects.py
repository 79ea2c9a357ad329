#!/usr/bin/env python3
"""Prints the objects a fuzz harness links: for every header under src/ it
includes, the object of the .c beside it, and so on through those sources'
own includes.

    python3 tests/fuzz/objects.py build-fuzz tests/fuzz/fuzz_b64.c
    -> build-fuzz/src/common/b64.o build-fuzz/src/common/buf.o

The Makefile links each harness with only these (not the whole tree), so
CI compiles about a third of ROMA for the fuzzers.  A source that needs
another without including its header would fail the link, naming the
symbol: include the header (as the code should anyway).
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def resolve(name, including):
    """The file an #include "name" in `including` means (the Makefile's -Isrc)."""
    for base in (os.path.dirname(including), "src"):
        path = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(path):
            return path
    return None


def sources(harness):
    seen, found, todo = set(), set(), [harness]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.startswith("src/") and path.endswith(".h"):
            c = path[:-2] + ".c"
            if os.path.isfile(c):
                found.add(c)
                todo.append(c)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            dep = resolve(name, path)
            if dep:
                todo.append(dep)
    return sorted(found)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tests/fuzz/objects.py BUILD_DIR tests/fuzz/fuzz_NAME.c")
    build, harness = sys.argv[1:]
    print(" ".join(os.path.join(build, c[:-2] + ".o") for c in sources(harness)))
