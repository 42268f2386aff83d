# A thin driver: meson is the build system. `make demo` and `make test` are
# the two set-up commands of the README; both install what is missing first.
BUILD ?= build
MESON_SETUP = meson setup $(BUILD) --buildtype=debugoptimized

.PHONY: all deps setup build demo test test-asan test-tsan test-valgrind test-windows bench-windows bench clean

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

# The library and its tests cross-built for Windows (mingw-w64) and run
# under Wine, in a Wine prefix of the build folder's own (docs/windows.md).
# The prefix is made first; a wineserver that scripts/wine-run.sh starts
# serves every test, and is stopped at the end.
WIN_BUILD = $(BUILD)-win
WIN_ENV = MEMSNAP_WINEPREFIX=$(CURDIR)/$(WIN_BUILD)/wineprefix WINEPREFIX=$(CURDIR)/$(WIN_BUILD)/wineprefix

$(WIN_BUILD)/build.ninja:
	mkdir -p $(WIN_BUILD)
	printf "[constants]\nsrc = '%s'\n" "$(CURDIR)" > $(WIN_BUILD)/src.ini
	meson setup $(WIN_BUILD) --cross-file $(WIN_BUILD)/src.ini --cross-file cross/mingw-w64.ini

# A new prefix's first start leaves Wine's services running a while; tests
# started meanwhile may wait on them, so it is left to finish first.
$(WIN_BUILD)/wineprefix/system.reg: $(WIN_BUILD)/build.ninja
	$(WIN_ENV) ./scripts/wine-run.sh cmd /c exit 0
	$(WIN_ENV) wineserver -w

test-windows: deps $(WIN_BUILD)/build.ninja $(WIN_BUILD)/wineprefix/system.reg
	meson compile -C $(WIN_BUILD)
	$(WIN_ENV) meson test -C $(WIN_BUILD) --print-errorlogs; rc=$$?; $(WIN_ENV) wineserver -k; exit $$rc

bench-windows: deps $(WIN_BUILD)/build.ninja $(WIN_BUILD)/wineprefix/system.reg
	meson compile -C $(WIN_BUILD)
	$(WIN_ENV) WINEPATH=$(CURDIR)/$(WIN_BUILD)/lib \
		./scripts/wine-run.sh $(WIN_BUILD)/bench/win/memsnap-bench-win.exe 256 16 300

bench: build
	$(BUILD)/bench/memsnap-bench restore

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-win
