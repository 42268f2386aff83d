#!/bin/sh
# Render memsnap-bench results as SVG and PNG with gnuplot.
#
#   bench/plot.sh RESULTS.json|RESULTS.csv [OUTDIR]
#
# RESULTS is the output of `memsnap-bench ... --json` or `--csv` (several
# benchmarks may be concatenated in one JSON array or CSV file). Writes to
# OUTDIR (default: the results file's directory), when the data is present:
#   restore-fixed.{svg,png}    restore latency (median) vs dirty pages, the
#                              same pages every iteration, log-log, one line
#                              per strategy, a panel per size
#   iteration-fixed.{svg,png}  the whole iteration (writes and restore)
#   restore-random.{svg,png}, iteration-random.{svg,png}
#                              the same with new random pages every iteration
#   fuzz.{svg,png}             Unicorn iterations/s per strategy, a panel per
#                              guest RAM size, ~1,000-instruction iterations
#   snapshot.{svg,png}         take_snapshot cost vs view size
# Needs gnuplot and python3 (which meson needs anyway).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 RESULTS.json|RESULTS.csv [OUTDIR]" >&2; exit 2; }
in=$1
out=${2:-$(dirname "$in")}
mkdir -p "$out"
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

python3 - "$in" "$tmp" <<'PY'
import csv, json, math, os, sys

src, tmp = sys.argv[1], sys.argv[2]
text = open(src).read()
if text.lstrip().startswith('['):
    rows = json.loads(text)
else:
    lines = [l for l in text.splitlines() if l and not l.startswith('#')]
    rows = []
    header = None
    for rec in csv.reader(lines):
        if rec and rec[0] == 'bench':
            header = rec
            continue
        if header:
            rows.append(dict(zip(header, rec)))

def num(r, k):
    v = r.get(k)
    if v in (None, '', 'null'):
        return None
    return float(v)

def size_label(b):
    b = int(b)
    for unit, shift in (('G', 30), ('M', 20), ('K', 10)):
        if b >= 1 << shift and b % (1 << shift) == 0:
            return '%d%s' % (b >> shift, unit)
    return str(b)

ORDER = {
    'restore': ['memcpy', 'remap', 'dontneed', 'memsnap', 'limit'],
    'fuzz': ['floor', 'limit', 'memsnap', 'memcpy', 'uc_mem_write', 'fresh_engine'],
    'snapshot': ['full', 'incremental', 'memcpy-dirty'],
}

def order(names, bench):
    pref = ORDER[bench]
    def key(n):
        if n in pref:
            return (pref.index(n), n)
        base = n.split('-')[0]
        return (pref.index(base) + 0.5 if base in pref else 99, n)
    return sorted(names, key=key)

script = []
def terminals(name, w, h):
    return [('set terminal svg size %d,%d dynamic font "Helvetica,12" background "white"' % (w, h),
             os.path.join('OUT', name + '.svg')),
            ('set terminal pngcairo size %d,%d font "Helvetica,11"' % (w, h),
             os.path.join('OUT', name + '.png'))]

def panels(name, bench, title, ylabel, rows, key_fn, x_fn, y_fn, group_fn, xlabel, logx=True,
           yformat='%g'):
    # group_fn gives (sort key, panel title)
    groups = sorted({group_fn(r) for r in rows})
    if not groups:
        return
    ncol = min(2, len(groups))
    nrow = (len(groups) + ncol - 1) // ncol
    plots = []
    for g in groups:
        series = {}
        for r in rows:
            if group_fn(r) != g:
                continue
            y = y_fn(r)
            if y is None or y <= 0:
                continue
            series.setdefault(key_fn(r), []).append((x_fn(r), y))
        cmds = []
        for i, s in enumerate(order(series, bench)):
            fn = os.path.join(tmp, '%s-%d-%d.dat' % (name, groups.index(g), i))
            with open(fn, 'w') as f:
                for x, y in sorted(series[s]):
                    f.write('%g %g\n' % (x, y))
            cmds.append("'%s' using 1:2 with linespoints ls %d title '%s'" % (fn, i + 1, s))
        plots.append((g, cmds))
    for term, path in terminals(name, 660 * ncol, 400 * nrow + 40):
        script.append(term)
        script.append("set output '%s'" % path)
        script.append('set termoption noenhanced')
        script.append('set multiplot layout %d,%d title "%s"' % (nrow, ncol, title))
        script.append('set format y "%s"' % yformat)
        script.append('set format x "%g"')
        for i, c in enumerate(['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd',
                               '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22',
                               '#000000', '#aec7e8', '#98df8a', '#ff9896']):
            script.append('set linetype %d lc rgb "%s" lw 2 pt %d ps 0.8' % (i + 1, c, i + 1))
        script.append('set logscale y' + ('\nset logscale x 2' if logx else '\nunset logscale x'))
        script.append('set grid xtics ytics mytics lc rgb "#dddddd"')
        script.append('set key outside right top font ",9"')
        script.append('set xlabel "%s"' % xlabel)
        script.append('set ylabel "%s"' % ylabel)
        for g, cmds in plots:
            script.append('set title "%s"' % g[1])
            script.append('plot ' + ', \\\n  '.join(cmds) if cmds else 'unset key; plot NaN notitle')
        script.append('unset multiplot')
        script.append('set output')

restore = [r for r in rows if r.get('bench') == 'restore']
grp = lambda r: (int(r['size_bytes']), 'view of %s' % size_label(r['size_bytes']))
for pattern in ('fixed', 'random'):
    rs = [r for r in restore if r.get('pages', 'random') == pattern
          and int(num(r, 'read_pages') or 0) == 0]
    if not rs:
        continue
    what = {'fixed': 'the same D pages every iteration',
            'random': 'D new random pages every iteration'}[pattern]
    panels('restore-' + pattern, 'restore', 'Restore latency, median (%s)' % what,
           'restore, microseconds', rs, lambda r: r['strategy'],
           lambda r: num(r, 'dirty_pages'), lambda r: (num(r, 'restore_ns_median') or 0) / 1e3,
           grp, 'pages written per iteration (D)')
    panels('iteration-' + pattern, 'restore',
           'Whole iteration (writes + restore), median (%s)' % what,
           'iteration, microseconds', rs, lambda r: r['strategy'],
           lambda r: num(r, 'dirty_pages'), lambda r: (num(r, 'iteration_ns_median') or 0) / 1e3,
           grp, 'pages written per iteration (D)')

fuzz = [r for r in rows if r.get('bench') == 'fuzz' and not r.get('run')]
if fuzz:
    insns = sorted({int(num(r, 'insns')) for r in fuzz})
    small = [r for r in fuzz if int(num(r, 'insns')) < 2000] or fuzz
    panels('fuzz', 'fuzz', 'Unicorn fuzz iterations per second (~1,000 guest instructions)',
           'iterations / s', small, lambda r: r['strategy'], lambda r: num(r, 'dirty_pages'),
           lambda r: num(r, 'iters_per_sec'),
           lambda r: (int(r['size_bytes']), 'guest RAM %s' % size_label(r['size_bytes'])),
           'pages written per iteration (D)', yformat='%.0s%c')

snap = [r for r in rows if r.get('bench') == 'snapshot']
if snap:
    panels('snapshot', 'snapshot', 'Taking a snapshot of a view, median', 'microseconds', snap,
           lambda r: r['strategy'], lambda r: num(r, 'size_bytes') / (1 << 20),
           lambda r: (num(r, 'take_ns_median') if 'take_ns_median' in r and r.get('take_ns_median') not in (None, '') else num(r, 'restore_ns_median') or 0) / 1e3,
           lambda r: (int(num(r, 'dirty_pages')), 'D=%d pages written' % int(num(r, 'dirty_pages'))),
           'view size, MiB')

with open(os.path.join(tmp, 'plot.gp'), 'w') as f:
    f.write('\n'.join(script) + '\n')
PY

sed -i "s|OUT/|$out/|g" "$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
ls "$out"/*.png "$out"/*.svg 2>/dev/null
