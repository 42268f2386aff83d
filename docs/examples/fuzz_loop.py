#!/usr/bin/python3
"""A coverage-guided fuzz loop on memsnap: map code and data, place an input,
run, detect the crash, restore. Exits 0 once the planted bug is found."""
import random
import sys

import unicorn
from unicorn.x86_const import UC_X86_REG_RDI, UC_X86_REG_RDX

import memsnap
import memsnap.uc

# x86-64 target: input length at [rdi], bytes after; copies them to rdx and
# stores to unmapped memory when the input starts with "BUG".
CODE = bytes.fromhex(
    "488b374c8d470831c94839f1730e410fb60408488904ca48ffc1ebed4883fe0372"
    "2141803842751b418078015575144180780247750d48b80000adde000000004889"
    "0090")
CODE_AT, INPUT_AT, SCRATCH_AT = 0x1000, 0x100000, 0x200000
R, RW = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC, unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE


def fuzz(iterations=200_000, seed=1):
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    edges = set()
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda uc, address, size, data: edges.add(address))
    with memsnap.uc.attach(uc) as rt:
        rt.map(CODE_AT, memsnap.Snapshot.from_bytes(CODE), R)
        rt.map(INPUT_AT, 0x1000, RW)
        rt.map(SCRATCH_AT, 0x8000, RW)
        uc.reg_write(UC_X86_REG_RDI, INPUT_AT)
        uc.reg_write(UC_X86_REG_RDX, SCRATCH_AT)
        start = rt.checkpoint()  # registers and memory before any input
        rng, corpus = random.Random(seed), [b"AAAA"]
        for i in range(iterations):
            data = bytearray(rng.choice(corpus))
            data[rng.randrange(len(data))] = rng.randrange(256)
            rt.write(INPUT_AT, len(data).to_bytes(8, "little") + data)
            known = len(edges)
            try:
                rt.run(CODE_AT, CODE_AT + len(CODE) - 1, count=100_000)
            except memsnap.UnicornError as crash:
                return i, bytes(data), crash
            finally:
                rt.restore(start)  # O(pages written): input, scratch, CPU
            if len(edges) > known:
                corpus.append(bytes(data))
    return iterations, None, None


if __name__ == "__main__":
    runs, data, crash = fuzz()
    print(f"{runs} runs: " + (f"crash {crash.strerror!r} on {data!r}" if crash else "no crash"))
    sys.exit(0 if crash else 1)
