import json, sys
SKIP = ("time", "seconds", "path", "dir", "root", "out", "created", "date", "host", "version", "commit", "elapsed", "_s")
def walk(a, b, p=""):
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if any(s in k.lower() for s in SKIP): continue
            if k not in a or k not in b: diffs.append(f"{p}/{k}: only in one"); continue
            diffs += walk(a[k], b[k], f"{p}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b): return [f"{p}: lengths {len(a)} != {len(b)}"]
        for i, (x, y) in enumerate(zip(a, b)): diffs += walk(x, y, f"{p}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if a != b: diffs.append(f"{p}: {a} != {b}")
    return diffs
a, b = (json.load(open(f)) for f in sys.argv[1:3])
d = walk(a, b)
print(len(d), "numbers differ"); print("\n".join(d[:20]))
