# A thin driver: meson is the build system. `make demo` and `make test` are
# the two set-up commands of the README; both install what is missing first.
BUILD ?= build
MESON_SETUP = meson setup $(BUILD) --buildtype=debugoptimized

.PHONY: all deps setup build demo test test-asan test-tsan test-valgrind bench clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	$(MESON_SETUP)

setup: deps $(BUILD)/build.ninja

build: setup
	meson compile -C $(BUILD)

demo: build
	./scripts/demo.sh $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

test-asan: deps
	[ -f $(BUILD)-asan/build.ninja ] || meson setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false
	meson compile -C $(BUILD)-asan
	ASAN_OPTIONS=detect_leaks=1:handle_segv=0:handle_sigbus=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD)-asan --no-suite fuzz --print-errorlogs

test-tsan: deps
	[ -f $(BUILD)-tsan/build.ninja ] || meson setup $(BUILD)-tsan -Db_sanitize=thread -Db_lundef=false
	meson compile -C $(BUILD)-tsan
	TSAN_OPTIONS=halt_on_error=1 meson test -C $(BUILD)-tsan --suite tsan --print-errorlogs

test-valgrind: build
	meson test -C $(BUILD) --setup=valgrind --suite lib --print-errorlogs

bench: build
	$(BUILD)/bench/memsnap-bench restore

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
