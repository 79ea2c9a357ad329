"""The simulator's figures quoted in README.md and experiments/README.md are
pinned to `roma sim`'s output (the simulator is byte-deterministic, so a doc
table that no longer matches the command beside it is stale, or the engine
changed without the docs).

A Markdown table is pinned by an HTML comment on the line(s) before it:

    <!-- figures: build/roma sim -c experiments/paper.yaml -->
    | run | ... |

Every row of the doc table must be a row of the command's output (matched
by its first cell, cell by cell for the doc's columns, which may be a subset
of the output's), and an "Offline optimum ..." line following the table
must be the command's own.  `<!-- figures: optimum -->` pins the table of
offline optima (one scenario a row) against each scenario's optimum line.

Only `build/roma sim ...` commands are run.
"""

import re
import shlex

import pytest

from test_sim import sim
from roma_http import PROJECT_ROOT

pytestmark = pytest.mark.once  # documents and scripts; the C they run is covered under ASan elsewhere

DOCS = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "experiments" / "README.md"]
MARKER = re.compile(r"<!-- figures: (.*?) -->")
OPTIMUM = re.compile(r"^Offline optimum .*?: ([\d.]+) core-seconds; GPUs take ([\d.]+)% of the requests; "
                     r"(\d+) model windows over the target even at cores.max; (\d+) node periods")

_outputs = {}


def run_sim(args):
    """stdout of build/roma sim ARGS (run from the project root), cached."""
    key = tuple(args)
    if key not in _outputs:
        # paths in the doc's command are the project root's
        absolute = [str(PROJECT_ROOT / a) if (PROJECT_ROOT / a).is_file() else a for a in args]
        _outputs[key] = sim(*absolute, timeout=300).stdout.decode()
    return _outputs[key]


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text):
    """Every Markdown table in text: (header cells, rows of cells, line after it).
    A table may be indented (inside a list item)."""
    lines = [ln.lstrip() for ln in text.splitlines()]
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1]):
            header, rows, j = cells(lines[i]), [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(cells(lines[j]))
                j += 1
            after = next((ln for ln in lines[j:j + 3] if ln.strip()), "")
            out.append((header, rows, after))
            i = j
        else:
            i += 1
    return out


def pinned():
    """(doc, line number, command, the table after the marker)."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in MARKER.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            rest = text[m.end():]
            found.append((doc.name, line, m.group(1).strip(), tables(rest)[0]))
    return found


PINNED = pinned()


def test_docs_pin_their_sim_tables():
    # README's paper.yaml table; experiments/README's paper-h200, standard and optimum tables
    assert len(PINNED) >= 4, [p[:3] for p in PINNED]


@pytest.mark.parametrize("doc,line,command,table", PINNED,
                         ids=[f"{p[0]}:{p[1]}" for p in PINNED])
def test_doc_table_matches_sim(doc, line, command, table):
    header, rows, after = table
    if command == "optimum":
        check_optimum_table(header, rows)
        return
    args = shlex.split(command)
    assert args[:2] == ["build/roma", "sim"], f"{doc}:{line}: only build/roma sim commands are pinned"
    out = run_sim(args[2:])
    candidates = [t for t in tables(out) if t[0][0] == header[0] and set(header) <= set(t[0])]
    assert candidates, f"{doc}:{line}: no table of `{command}` has the columns {header}"
    out_header, out_rows, out_after = candidates[0]
    by_name = {r[0]: dict(zip(out_header, r)) for r in out_rows}
    for row in rows:
        assert row[0] in by_name, f"{doc}:{line}: `{command}` has no run {row[0]!r}"
        want = by_name[row[0]]
        for col, got in zip(header, row):
            assert got == want[col], \
                f"{doc}:{line}: {row[0]} {col}: the doc says {got}, `{command}` says {want[col]}"
    if after.startswith("Offline optimum"):
        assert after.strip() == out_after.strip(), f"{doc}:{line}: optimum line differs:\n{out_after}"


def check_optimum_table(header, rows):
    assert header[:5] == ["scenario", "optimum (core-seconds)", "GPUs take", "windows over target at max",
                          "node periods over cpus"], header
    for row in rows:
        scenario = PROJECT_ROOT / "experiments" / row[0]
        out = run_sim(["-c", str(scenario.relative_to(PROJECT_ROOT))])
        m = next(filter(None, (OPTIMUM.match(ln) for ln in out.splitlines())), None)
        assert m, f"no optimum line in the output for {row[0]}"
        core_s, gpu, windows, nodes = m.groups()
        gpu_doc = "-" if float(gpu) == 0 else f"{float(gpu):g}%" if float(gpu) == 100 else f"{gpu}%"
        assert row[1:5] == [core_s, gpu_doc, windows, nodes], f"{row[0]}: doc {row[1:5]}, sim " \
            f"{[core_s, gpu_doc, windows, nodes]}"
