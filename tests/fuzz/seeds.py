#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora from the inputs the tests already use.

    tests/fuzz/seeds.py OUT_DIR

OUT_DIR/<harness>/ gets one file per input (named by its SHA-1), taken from:
the string literals of the C unit tests (tests/unit/test_*.c) and the
string constants and JSON-like dict literals of the HTTP and Kubernetes
tests (tests/http/*.py, tests/k8s/*.py), sorted to the harness whose parser reads them; the
example configs (examples/, experiments/); the models' request bodies and
the signatures of their SavedModels (models/, when set up).  Crash inputs
and hand-made seeds are committed in tests/fuzz/corpus/<harness>/ instead.
"""
import ast
import hashlib
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_SEED = 16 * 1024

# C string literal pieces, and the whitespace or comments that may join them.
C_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
C_GLUE = re.compile(r'^(?:\s|//[^\n]*\n|/\*.*?\*/)*$', re.S)
C_ESCAPES = {'n': b'\n', 't': b'\t', 'r': b'\r', '"': b'"', '\\': b'\\', "'": b"'",
             'a': b'\a', 'b': b'\b', 'f': b'\f', 'v': b'\v', '?': b'?'}


def c_unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode()
            i += 1
            continue
        n = s[i + 1]
        if n == 'x':
            m = re.match(r'[0-9a-fA-F]+', s[i + 2:])
            out.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif n in '01234567':
            m = re.match(r'[0-7]{1,3}', s[i + 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += 1 + len(m.group(0))
        else:
            out += C_ESCAPES.get(n, n.encode())
            i += 2
    return bytes(out)


def c_strings(path):
    """Each string literal of a C file, adjacent literals joined."""
    text = path.read_text(errors='replace')
    text = re.sub(r"'(?:[^'\\\n]|\\.)'", "' '", text)  # char literals may hold '"'
    parts, prev_end = [], None
    for m in C_STRING.finditer(text):
        piece = c_unescape(m.group(1))
        if prev_end is not None and C_GLUE.match(text[prev_end:m.start()]):
            parts[-1] += piece
        else:
            parts.append(piece)
        prev_end = m.end()
    return parts


def py_strings(path):
    """String constants and JSON-like dict literals of a Python file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value.encode())
        elif isinstance(node, ast.Dict):
            try:
                out.append(json.dumps(ast.literal_eval(node)).encode())
            except (ValueError, TypeError, SyntaxError, RecursionError):
                pass
    return out


def pb_fields(data):
    """(field, wire, value) of a protobuf message's top level."""
    i = 0
    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(data):
        start = i
        key = varint()
        wire = key & 7
        if wire == 0:
            varint()
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n = varint()
            i += n
        else:
            return
        yield key >> 3, wire, data[start:i]


def signatures_only(saved_model):
    """The MetaGraphDefs of a SavedModel, keeping only their signature_def
    entries (field 5): what tfb_parse_signatures reads, without the graph."""
    for field, wire, raw in pb_fields(saved_model):
        if field != 2 or wire != 2:
            continue
        # strip the key and length varints in front of the MetaGraphDef
        j = 1
        while raw[j] & 0x80:
            j += 1
        meta = raw[j + 1:]
        yield b''.join(r for f, w, r in pb_fields(meta) if f == 5)


def is_json(b):
    try:
        json.loads(b.replace(b'NaN', b'0').replace(b'Infinity', b'0'))
        return True
    except ValueError:
        return False


def classify(s, origin):
    """The harnesses a test string is a seed for."""
    text = s.lstrip()
    kinds = []
    if text.startswith(b'{') or (text.startswith(b'[') and is_json(text)):
        kinds.append('json_tensor')
        if b'"instances"' in s or b'"inputs"' in s:
            kinds.append('json_fast')
        if b'"examples"' in s or b'"context"' in s or origin == 'test_proto.c':
            kinds.append('example')
    if s.startswith(b'/'):
        kinds.append('route')
    if origin == 'test_model_config.c' and b'{' in s:
        kinds.append('model_config')
    if origin == 'test_serve_config.c' and b':' in s and b'\n' in s:
        kinds.append('serve_config')
    if origin == 'test_bench_workload.c' and b':' in s and b'\n' in s:
        kinds.append('workload')
    if origin.startswith('test_k8s_') and origin.endswith('.c'):
        kinds.append('k8s_pod')  # pod JSON, watch lines, CPU quantities
    if origin.endswith('.py') and origin != 'test_render.py' and text.startswith(b'{'):
        if b'"metadata"' in s or b'"object"' in s or b'"Status"' in s:
            kinds.append('k8s_pod')
    if origin == 'test_proto.c' and re.fullmatch(rb'[A-Za-z0-9+/=_-]{0,200}', s):
        kinds.append('b64')
    return kinds


def main():
    out = pathlib.Path(sys.argv[1])
    seeds = {}

    def add(kind, data):
        if len(data) <= MAX_SEED:
            seeds.setdefault(kind, set()).add(bytes(data))

    for path in sorted((ROOT / 'tests/unit').glob('test_*.c')):
        for s in c_strings(path):
            for kind in classify(s, path.name):
                add(kind, s)
    for path in sorted((ROOT / 'tests/http').glob('*.py')) + sorted((ROOT / 'tests/k8s').glob('*.py')):
        for s in py_strings(path):
            for kind in classify(s, path.name):
                add(kind, s)
    for kind in list(seeds.get('route', ())):
        seeds['route'].discard(kind)
        for method in (b'\x00', b'\x01'):  # fuzz_route.c: GET, POST
            add('route', method + kind)
    for path in sorted((ROOT / 'examples').glob('*.yaml')):
        add('serve_config', path.read_bytes())
    for path in sorted((ROOT / 'examples').glob('*.config')):
        add('model_config', path.read_bytes())
    for path in sorted((ROOT / 'experiments').glob('*.yaml')):
        add('workload', path.read_bytes())
        add('serve_config', path.read_bytes())
    for path in sorted((ROOT / 'models').glob('*/request.json')):
        add('json_tensor', path.read_bytes())
        add('json_fast', path.read_bytes())
    for path in sorted((ROOT / 'models').glob('*/*/saved_model.pb')):
        for meta in signatures_only(path.read_bytes()):
            add('proto', meta)
    for kind, items in sorted(seeds.items()):
        d = out / kind
        d.mkdir(parents=True, exist_ok=True)
        for data in items:
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f'{kind}: {len(items)} seeds', file=sys.stderr)


if __name__ == '__main__':
    main()
