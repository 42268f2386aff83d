#!/bin/sh
# Side-by-side runs for issue 3: this commit (new) against c6eb83d (old: before the pool and trimming).
out=/work/main/bench/results/2026-11-27-issue3
new=/work/main/build-h3/bench/memsnap-bench
old=/tmp/h3/base/build/bench/memsnap-bench
cat /proc/loadavg > $out/load-start.txt
for i in 1 2; do
  for b in new old; do
    eval bin=\$$b
    $bin snapshot --sizes 16M,256M,1G --dirty 16,256 --strategies incremental-uffd-async,incremental-uffd-sync,incremental-mprotect,memcpy-dirty --reps 41 --json > $out/snapshot-$b-$i.json 2>$out/snapshot-$b-$i.err
  done
done
for i in 1 2; do
  for b in new old; do
    eval bin=\$$b
    $bin restore --sizes 16M,1G --dirty 1,16,256,4096 --reads 0 --strategies memsnap-uffd-async,memsnap-uffd-sync,limit --reps 41 --json > $out/restore-$b-$i.json 2>$out/restore-$b-$i.err
  done
done
$new pss --sizes 1G --dirty 100 --views 8 --rounds 1,10,100 --json > $out/pss.json 2>$out/pss.err
$old pss --sizes 1G --dirty 100 --views 8 --rounds 1,10,100 --strategies memsnap,memsnap-uffd-sync --json > $out/pss-old.json 2>$out/pss-old.err
cat /proc/loadavg > $out/load-end.txt
date > /tmp/h3/final.done
