"""Shared guest code and fixtures of the memsnap Python tests."""
import gc
import os

import pytest
import unicorn
from unicorn.x86_const import UC_X86_REG_RDI, UC_X86_REG_RSI

import memsnap
import memsnap.uc

PAGE = 4096
RAM_AT = 0x100000
CODE_AT = 0x1000
RX = unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC
RW = unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE

# x86-64: for rcx in 0..rsi-1: [rdi + rcx*4096] = rcx; then a nop (the end).
#   xor ecx,ecx; 1: cmp rcx,rsi; jae 2f; mov rax,rcx; shl rax,12;
#   mov [rdi+rax],rcx; inc rcx; jmp 1b; 2: nop
DIRTY_CODE = bytes.fromhex("31c94839f173104889c848c1e00c48890c0748ffc1ebeb90")
DIRTY_END = CODE_AT + len(DIRTY_CODE) - 1

# Under a sanitizer freed memory sits in quarantine: RSS says nothing.
SANITIZER = os.environ.get("MEMSNAP_TEST_SANITIZER") == "1"


def new_uc():
    return unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)


def setup_dirty_guest(rt, ram_size=64 * PAGE, pages=4):
    """Map the page-writing guest and RAM, point it at RAM; returns the Uc."""
    uc = rt.engine
    rt.map(CODE_AT, memsnap.Snapshot.from_bytes(DIRTY_CODE), RX)
    rt.map(RAM_AT, ram_size, RW)
    uc.reg_write(UC_X86_REG_RDI, RAM_AT)
    uc.reg_write(UC_X86_REG_RSI, pages)
    return uc


def page_value(rt, page):
    return int.from_bytes(rt.read(RAM_AT + page * PAGE, 8), "little")


@pytest.fixture
def uc():
    return new_uc()


@pytest.fixture
def rt(uc):
    runtime = memsnap.uc.attach(uc)
    yield runtime
    runtime.close()


@pytest.fixture
def tmp_state(tmp_path):
    return tmp_path / "state.mss"


@pytest.fixture(autouse=True)
def collect():
    """Collect after each test so finalizers run inside it."""
    yield
    gc.collect()
    assert not [g for g in memsnap.uc._guards.values() if g.ref() is None]

