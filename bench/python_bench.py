#!/usr/bin/python3
"""Python fuzz loops: memsnap against the ways Python harnesses reset an engine.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--quick] [--json FILE]
    meson test -C build --benchmark --suite python          (the same, from meson)

Loop: run a guest that writes D pages of 64 MiB of guest RAM, then reset
CPU and memory, D = 4 and 16. Methods:

  memsnap      memsnap.uc runtime: rt.run + rt.restore(checkpoint)
  full-copy    uc.emu_start + uc.mem_write of the whole saved RAM + uc.context_restore
               (the usual practice)
  hook-pages   uc.emu_start with a UC_HOOK_MEM_WRITE hook logging the pages written,
               then uc.mem_write of those pages only + uc.context_restore (the careful
               practice)

and the cost of one restore call of an unchanged engine (64 MiB of RAM, and
the CPU alone, where the binding's share is not lost in the tracker's): the
C call timed in a C loop, the extension's Runtime.restore, and the same C
function through ctypes, interleaved. Each cell is the median of several
rounds of ~0.4 s; the tracker that ran is printed (MEMSNAP_TRACKER, if set,
picks it).
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time

import unicorn
from unicorn.x86_const import UC_X86_REG_RDI, UC_X86_REG_RSI

import memsnap
import memsnap.uc

RAM_SIZE = 64 << 20
RAM_AT = 0x1000000
CODE_AT = 0x1000
PAGE = 4096
# for rcx in 0..rsi-1: [rdi + rcx*4096] = rcx; then a nop (the end).
CODE = bytes.fromhex("31c94839f173104889c848c1e00c48890c0748ffc1ebeb90")
CODE_END = CODE_AT + len(CODE) - 1
RX = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC
RW = unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE


def new_uc(dirty):
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    uc.reg_write(UC_X86_REG_RDI, RAM_AT)
    uc.reg_write(UC_X86_REG_RSI, dirty)
    return uc


def plain_engine(dirty):
    """An engine with plain Unicorn memory, as Python harnesses set it up."""
    uc = new_uc(dirty)
    uc.mem_map(CODE_AT, PAGE, RX)
    uc.mem_write(CODE_AT, CODE)
    uc.mem_map(RAM_AT, RAM_SIZE, RW)
    uc.mem_write(RAM_AT, bytes(range(256)) * (RAM_SIZE // 256))  # non-zero content
    return uc


def rounds_of(seconds, rounds, body):
    """Median iterations/s over `rounds` timed runs of body(n), n calibrated
    so that one round takes about `seconds`."""
    iterations = 1
    while True:
        t0 = time.perf_counter()
        body(iterations)
        elapsed = time.perf_counter() - t0
        if elapsed >= 0.05:
            break
        iterations *= 4
    iterations = max(1, int(iterations * seconds / elapsed))
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        body(iterations)
        rates.append(iterations / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_memsnap(dirty, seconds, rounds):
    uc = new_uc(dirty)
    rt = memsnap.uc.attach(uc)
    rt.map(CODE_AT, memsnap.Snapshot.from_bytes(CODE), RX)
    rt.map(RAM_AT, memsnap.Snapshot.from_bytes(bytes(range(256)) * (RAM_SIZE // 256)), RW)
    cp = rt.checkpoint()
    run, restore = rt.run, rt.restore

    def body(n):
        for _ in range(n):
            run(CODE_AT, CODE_END)
            restore(cp)

    body(10)  # translate, fault in
    rate = rounds_of(seconds, rounds, body)
    assert rt.verify() == 0 and rt.stats().last_dirty_pages >= dirty
    rt.close()
    return rate


def bench_full_copy(dirty, seconds, rounds):
    uc = plain_engine(dirty)
    ctx = uc.context_save()
    saved = bytes(uc.mem_read(RAM_AT, RAM_SIZE))

    def body(n):
        for _ in range(n):
            uc.emu_start(CODE_AT, CODE_END)
            uc.mem_write(RAM_AT, saved)
            uc.context_restore(ctx)

    body(1)
    return rounds_of(seconds, rounds, body)


def bench_hook_pages(dirty, seconds, rounds):
    uc = plain_engine(dirty)
    ctx = uc.context_save()
    saved = bytes(uc.mem_read(RAM_AT, RAM_SIZE))
    written = set()

    def on_write(uc, access, address, size, value, data):
        written.add(address & ~(PAGE - 1))
        if (address + size - 1) & ~(PAGE - 1) != address & ~(PAGE - 1):
            written.add((address + size - 1) & ~(PAGE - 1))

    uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, on_write, begin=RAM_AT, end=RAM_AT + RAM_SIZE - 1)

    def body(n):
        for _ in range(n):
            uc.emu_start(CODE_AT, CODE_END)
            for page in written:
                off = page - RAM_AT
                uc.mem_write(page, saved[off:off + PAGE])
            written.clear()
            uc.context_restore(ctx)

    body(10)
    return rounds_of(seconds, rounds, body)


def find_library(name):
    here = os.path.dirname(memsnap.__file__)
    for d in (os.path.join(here, "..", "..", "runtime"), os.path.join(here, "..", "..", "lib")):
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return name  # installed: the dynamic linker finds it


def ctypes_runtime(ram_size):
    """libmemsnap-uc through ctypes: (restore function, m, checkpoint, cleanup)."""
    lib = ctypes.CDLL(find_library("libmemsnap-uc.so.0"))
    vp = ctypes.c_void_p
    lib.ms_uc_new.argtypes = [vp, ctypes.POINTER(vp)]
    lib.ms_uc_map_zeroed.argtypes = [vp, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_uint32]
    lib.ms_uc_checkpoint_take.argtypes = [vp, ctypes.POINTER(vp)]
    lib.ms_uc_checkpoint_restore.argtypes = [vp, vp]
    lib.ms_uc_checkpoint_free.argtypes = [vp]
    lib.ms_uc_free.argtypes = [vp]
    for f in ("ms_uc_new", "ms_uc_map_zeroed", "ms_uc_checkpoint_take",
              "ms_uc_checkpoint_restore"):
        getattr(lib, f).restype = ctypes.c_int
    uc = new_uc(0)
    m, cp = vp(), vp()
    assert lib.ms_uc_new(uc._uch, ctypes.byref(m)) == 0
    if ram_size:
        assert lib.ms_uc_map_zeroed(m, RAM_AT, ram_size, RW) == 0
    assert lib.ms_uc_checkpoint_take(m, ctypes.byref(cp)) == 0

    def cleanup(uc=uc):
        lib.ms_uc_checkpoint_free(cp)
        lib.ms_uc_free(m)

    return lib.ms_uc_checkpoint_restore, m, cp, cleanup


def bench_call_overhead(ram_size, calls, rounds):
    """ns per restore of an unchanged engine with `ram_size` bytes of RAM (0:
    the CPU alone): C loop, extension, ctypes, interleaved in each round."""
    rt = memsnap.uc.attach(new_uc(0))
    if ram_size:
        rt.map(RAM_AT, ram_size, RW)
    cp = rt.checkpoint()
    restore = rt.restore
    ct_restore, m, ccp, cleanup = ctypes_runtime(ram_size)
    c_ns, ext_ns, ct_ns = [], [], []
    for _ in range(rounds):
        c_ns.append(rt._restore_loop(cp, calls) / calls)
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            restore(cp)
        ext_ns.append((time.perf_counter_ns() - t0) / calls)
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            ct_restore(m, ccp)
        ct_ns.append((time.perf_counter_ns() - t0) / calls)
    cleanup()
    rt.close()
    return statistics.median(c_ns), statistics.median(ext_ns), statistics.median(ct_ns)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with memsnap.View(memsnap.Snapshot.zeroed(PAGE)) as view:
        tracker = view.tracker
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": sys.executable + " " + platform.python_version(),
            "unicorn": unicorn.__version__, "memsnap": memsnap.version(),
            "tracker": tracker, "MEMSNAP_TRACKER": os.environ.get("MEMSNAP_TRACKER", "")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations (a smoke run)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    seconds = 0.05 if args.quick else 0.4
    rounds = 3 if args.quick else 7

    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print("guest RAM 64 MiB; iterations/s, median of %d rounds" % rounds)
    results = {"machine": info, "loops": [], "restore_call_ns": {}}
    header = ("D", "memsnap it/s", "full-copy it/s", "hook-pages it/s",
              "x full-copy", "x hook-pages")
    print("%3s %14s %15s %16s %12s %13s" % header)
    for dirty in (4, 16):
        ms = bench_memsnap(dirty, seconds, rounds)
        full = bench_full_copy(dirty, seconds, rounds)
        hook = bench_hook_pages(dirty, seconds, rounds)
        print("%3d %14.0f %15.1f %16.0f %11.0fx %12.1fx" % (dirty, ms, full, hook, ms / full,
                                                            ms / hook))
        results["loops"].append({"dirty_pages": dirty, "memsnap": ms, "full_copy": full,
                                 "hook_pages": hook, "ratio_full_copy": ms / full,
                                 "ratio_hook_pages": ms / hook})

    calls = 1000 if args.quick else 20000
    for label, ram in (("64 MiB of RAM", RAM_SIZE), ("CPU only, no RAM", 0)):
        c_ns, ext_ns, ct_ns = bench_call_overhead(ram, calls, rounds)
        print("\nrestore of an unchanged engine, %s: ns per call (median of %d rounds)"
              % (label, rounds))
        print("  C loop           %8.0f" % c_ns)
        print("  C extension      %8.0f   (%+.0f ns over C)" % (ext_ns, ext_ns - c_ns))
        print("  ctypes           %8.0f   (%+.0f ns over C)" % (ct_ns, ct_ns - c_ns))
        results["restore_call_ns"][label] = {
            "c": c_ns, "extension": ext_ns, "ctypes": ct_ns,
            "extension_overhead": ext_ns - c_ns, "ctypes_overhead": ct_ns - c_ns}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
