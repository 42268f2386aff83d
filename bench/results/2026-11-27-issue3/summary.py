#!/usr/bin/env python3
"""Tables for docs/benchmarks.md from the side-by-side runs in this
directory (run.sh): medians of the runs of each binary, and new/old."""
import json, os, statistics, sys

d = os.path.dirname(os.path.abspath(__file__))
def load(n):
    p = os.path.join(d, n)
    return json.load(open(p)) if os.path.exists(p) else []
def us(x):
    x /= 1e3
    return '%.2f' % x if x < 10 else '%.1f' % x if x < 100 else '%.0f' % x
def mib(b):
    return '%.1f' % (b / 2**20)

def runs(kind, key):
    out = {}
    for b in ('new', 'old'):
        for i in (1, 2):
            for c in load('%s-%s-%d.json' % (kind, b, i)):
                k = (c['size_bytes'] >> 20, c['dirty_pages'], c['strategy'])
                out.setdefault(k, {}).setdefault(b, []).append(c[key])
    return out

def med(v):
    return statistics.median(v) if v else float('nan')

print('#### take_snapshot median µs (old = c6eb83d, new = this commit; median of 2 runs each)\n')
print('| size | D | strategy | old | new | new/old | new / memcpy-dirty |')
print('|---|---|---|---|---|---|---|')
t = runs('snapshot', 'take_ns_median')
for k in sorted(t):
    if k[2] == 'memcpy-dirty':
        continue
    o, n = med(t[k].get('old', [])), med(t[k].get('new', []))
    m = med(t.get((k[0], k[1], 'memcpy-dirty'), {}).get('new', []))
    print('| %dM | %d | %s | %s | %s | %.2f | %.2f |' % (k[0], k[1], k[2], us(o), us(n), n / o, n / m))
print()
for key, title in (('restore_ns_median', 'restore'), ('iteration_ns_median', 'whole iteration')):
    print('#### %s median µs, R=0 (old / new, median of 2 runs each)\n' % title)
    r = runs('restore', key)
    print('| size | D | strategy | old | new | new/old |')
    print('|---|---|---|---|---|---|')
    for k in sorted(r):
        o, n = med(r[k].get('old', [])), med(r[k].get('new', []))
        print('| %dM | %d | %s | %s | %s | %.2f |' % (k[0], k[1], k[2], us(o), us(n), n / o))
    print()
print('#### PSS of 8 copy-on-write views of a 1 GiB snapshot, 100 pages written per view and round\n')
print('| build | strategy | rounds | PSS MiB | anonymous MiB | views\' own PSS MiB | page tables MiB | PSS / 1.1 GiB | restore median µs |')
print('|---|---|---|---|---|---|---|---|---|')
for f, b in (('pss-old.json', 'old'), ('pss.json', 'new')):
    for c in load(f):
        print('| %s | %s | %d | %s | %s | %s | %s | %.3f | %s |' % (
            b, c['strategy'], c['rounds'], mib(c['pss_bytes']), mib(c['pss_anon_bytes']),
            mib(c['views_pss_bytes']), mib(c['page_table_bytes']),
            c['pss_bytes'] / (1.1 * 2**30),
            us(c['restore_ns_median']) if c['restore_ns_median'] else '-'))
