#!/usr/bin/env python3
"""Turn memsnap-bench --json output into CSV and Markdown tables.

    bench/report.py OUT.csv OUT.md RESULTS.json [MORE.json...]

Medians in microseconds (restore, snapshot) or iterations per second (fuzz);
"speedup" is memcpy's median divided by the strategy's, in the same cell.
Also writes key.md next to OUT.md: the compact restore tables (median and
speedup over memcpy, at the two largest sizes run at every D) that
docs/benchmarks.md quotes.
"""
import os
import csv
import json
import sys

FIELDS = ['bench', 'pages', 'run', 'strategy', 'tracker', 'size_bytes', 'dirty_pages',
          'read_pages', 'insns',
          'verified', 'reps', 'restore_ns_median', 'restore_ns_p99', 'take_ns_median',
          'take_ns_p99', 'op_ns_median', 'op_ns_p99', 'iteration_ns_median', 'iteration_ns_p99',
          'iters_per_sec', 'file_bytes', 'views', 'rounds', 'pss_bytes', 'pss_anon_bytes',
          'pss_shared_bytes', 'views_pss_bytes', 'page_table_bytes', 'x_limit', 'x_floor']


def size_label(b):
    for unit, shift in (('G', 30), ('M', 20), ('K', 10)):
        if b >= 1 << shift and b % (1 << shift) == 0:
            return '%d%s' % (b >> shift, unit)
    return str(b)


def us(ns):
    if ns is None:
        return '-'
    v = ns / 1e3
    if v < 10:
        return '%.2f' % v
    if v < 100:
        return '%.1f' % v
    return '%.0f' % v


def rate(x):
    return '%.0f' % x if x >= 10 else '%.2g' % x


def ratio(x):
    return '{:,.0f}'.format(x) if x >= 100 else '%.3g' % x


def table(head, rows):
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    out += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(out) + '\n'


def strategies(cells):
    seen = []
    for c in cells:
        if c['strategy'] not in seen:
            seen.append(c['strategy'])
    return seen


def key_tables(restore):
    """Restore medians (µs) and their speedup over memcpy, R=0 and the
    largest R, for the two largest sizes measured at every D."""
    out = []
    all_d = sorted({c['dirty_pages'] for c in restore})
    sizes = [s for s in sorted({c['size_bytes'] for c in restore})
             if {c['dirty_pages'] for c in restore if c['size_bytes'] == s} == set(all_d)]
    for size in sizes[-2:]:
        for reads in sorted({c['read_pages'] for c in restore if c['size_bytes'] == size}):
            sub = [c for c in restore if c['size_bytes'] == size and c['read_pages'] == reads]
            idx = {(c['strategy'], c['dirty_pages']): c for c in sub}
            out.append('\n**%s view, R=%d**: restore median µs (speedup over memcpy)\n\n'
                       % (size_label(size), reads))
            rows = []
            for s in strategies(sub):
                r = [s]
                for d in all_d:
                    c, m = idx.get((s, d)), idx.get(('memcpy', d))
                    if not c:
                        r.append('-')
                        continue
                    cell = us(c['restore_ns_median'])
                    if m and s != 'memcpy' and c['restore_ns_median']:
                        cell += ' (%sx)' % ratio(m['restore_ns_median'] /
                                                 c['restore_ns_median'])
                    if not c['verified']:
                        cell += ' FAILED'
                    r.append(cell)
                rows.append(r)
            out.append(table(['strategy'] + ['D=%d' % d for d in all_d], rows))
    return ''.join(out)


def main():
    out_csv, out_md, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
    cells = []
    for path in inputs:
        with open(path) as f:
            cells += json.load(f)
    with open(out_csv, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction='ignore')
        w.writeheader()
        for c in cells:
            w.writerow({k: ('' if c.get(k) is None else c.get(k, '')) for k in FIELDS})

    md = []
    bad = [c for c in cells if not c.get('verified')]
    md.append('%d cells, %d failed verification.\n' % (len(cells), len(bad)))
    all_restore = [c for c in cells if c['bench'] == 'restore']
    for pages in sorted({c.get('pages', 'random') for c in all_restore}):
      restore = [c for c in all_restore if c.get('pages', 'random') == pages]
      for size in sorted({c['size_bytes'] for c in restore}):
        for reads in sorted({c['read_pages'] for c in restore if c['size_bytes'] == size}):
            sub = [c for c in restore if c['size_bytes'] == size and c['read_pages'] == reads]
            ds = sorted({c['dirty_pages'] for c in sub})
            idx = {(c['strategy'], c['dirty_pages']): c for c in sub}
            md.append('\n#### Restore, %s pages, %s view, R=%d pages read: median (p99) µs; '
                      'whole iteration median µs; speedup over memcpy\n\n'
                      % (pages, size_label(size), reads))
            head = ['strategy'] + ['D=%d restore' % d for d in ds] + \
                   ['D=%d iteration' % d for d in ds] + ['speedup D=%d' % d for d in ds]
            rows = []
            for s in strategies(sub):
                r = [s]
                for d in ds:
                    c = idx.get((s, d))
                    r.append('%s (%s)' % (us(c['restore_ns_median']), us(c['restore_ns_p99']))
                             if c else '-')
                for d in ds:
                    c = idx.get((s, d))
                    r.append(us(c['iteration_ns_median']) if c else '-')
                for d in ds:
                    c, m = idx.get((s, d)), idx.get(('memcpy', d))
                    if c and m and c['restore_ns_median'] and m['restore_ns_median']:
                        r.append(ratio(m['restore_ns_median'] / c['restore_ns_median']))
                    else:
                        r.append('-')
                rows.append(r)
            md.append(table(head, rows))

    all_fuzz = [c for c in cells if c['bench'] == 'fuzz']
    for run in sorted({c.get('run', '') for c in all_fuzz}):
      fuzz = [c for c in all_fuzz if c.get('run', '') == run]
      for insns_bucket in sorted({c['insns'] // 1000 for c in fuzz}):
        sub = [c for c in fuzz if c['insns'] // 1000 == insns_bucket]
        cols = sorted({(c['size_bytes'], c['dirty_pages']) for c in sub})
        idx = {(c['strategy'], c['size_bytes'], c['dirty_pages']): c for c in sub}
        insns = sorted({c['insns'] for c in sub})
        md.append('\n#### Fuzz iterations/s%s, %s guest instructions per iteration '
                  '(median reset µs in brackets; x limit: paired ratio to the limit)\n\n'
                  % (' (run %s)' % run if run else '', '/'.join(map(str, insns))))
        head = ['strategy'] + ['%s D=%d' % (size_label(s), d) for s, d in cols]
        rows = []
        for s in strategies(sub):
            r = [s]
            for size, d in cols:
                c = idx.get((s, size, d))
                xl = c.get('x_limit') if c else None
                r.append('%s (%s)%s%s' % (rate(c['iters_per_sec']), us(c['restore_ns_median']),
                                            ' %.3fx' % xl if xl is not None else '',
                                            '' if c['verified'] else ' FAILED')
                         if c and c['iters_per_sec'] is not None else '-')
            rows.append(r)
        md.append(table(head, rows))

    snap = [c for c in cells if c['bench'] == 'snapshot']
    if snap:
        cols = sorted({(c['size_bytes'], c['dirty_pages']) for c in snap})
        idx = {(c['strategy'], c['size_bytes'], c['dirty_pages']): c for c in snap}
        md.append('\n#### Taking a snapshot: median (p99) µs\n\n')
        head = ['strategy'] + ['%s D=%d' % (size_label(s), d) for s, d in cols]
        rows = []
        for s in strategies(snap):
            r = [s]
            for size, d in cols:
                c = idx.get((s, size, d))
                r.append('%s (%s)' % (us(c['take_ns_median']), us(c['take_ns_p99']))
                         if c else '-')
            rows.append(r)
        md.append(table(head, rows))
    state = [c for c in cells if c['bench'] == 'savestate']
    if state:
        cols = sorted({(c['size_bytes'], c['dirty_pages']) for c in state})
        idx = {(c['strategy'], c['size_bytes'], c['dirty_pages']): c for c in state}
        md.append('\n#### Save states: median (p99) µs; file size\n\n')
        head = ['strategy'] + ['%s D=%d' % (size_label(s), d) for s, d in cols]
        rows = []
        for s in strategies(state):
            r = [s]
            for size, d in cols:
                c = idx.get((s, size, d))
                if not c:
                    r.append('-')
                    continue
                cell = '%s (%s)' % (us(c['op_ns_median']), us(c['op_ns_p99']))
                if c.get('file_bytes'):
                    cell += ', %.2f MiB' % (c['file_bytes'] / (1 << 20))
                r.append(cell)
            rows.append(r)
        md.append(table(head, rows))
    pss = [c for c in cells if c['bench'] == 'pss']
    if pss:
        md.append('\n#### Memory of copy-on-write views (PSS, MiB; goal < 1.1 x size)\n\n')
        head = ['size', 'D', 'views', 'rounds', 'strategy', 'PSS', 'anonymous', 'views own',
                'page tables', 'PSS / (1.1 x size)', 'restore median µs']
        mib = float(1 << 20)
        rows = []
        for c in pss:
            if c.get('pss_bytes') is None:
                continue
            rows.append([size_label(c['size_bytes']), str(c['dirty_pages']), str(c['views']),
                         str(c['rounds']), c['strategy'], '%.1f' % (c['pss_bytes'] / mib),
                         '%.1f' % (c['pss_anon_bytes'] / mib),
                         '%.1f' % (c['views_pss_bytes'] / mib),
                         '%.1f' % (c['page_table_bytes'] / mib),
                         '%.3f' % (c['pss_bytes'] / (1.1 * c['size_bytes'])),
                         us(c['restore_ns_median']) +
                         ('' if c['verified'] else ' FAILED')])
        md.append(table(head, rows))
    with open(out_md, 'w') as f:
        f.write(''.join(md))
    with open(os.path.join(os.path.dirname(out_md) or '.', 'key.md'), 'w') as f:
        for pages in sorted({c.get('pages', 'random') for c in all_restore}):
            f.write('\n### %s pages\n' % pages)
            f.write(key_tables([c for c in all_restore if c.get('pages', 'random') == pages]))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
