# moonshift build: bin/moonshift (CLI), build/moonshift.so (Lua module for specs
# and embedding), build/libmoonshift.a (C API). Objects live under build/.
PREFIX    ?= /usr/local
CC        ?= gcc
PKGS      := lua5.4 libpq libcrypto jansson
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
             -Wmissing-prototypes -Wstrict-prototypes
BASE_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(WARN) $(CFLAGS) -MMD -MP
LIBS      := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LUA       ?= lua5.4

# The parts of src/, one folder each (docs/design.md draws them). A part is
# compiled with the include paths of the parts it may use and the packages
# it may know, and nothing else, so a forbidden arrow is a compile error.
PARTS       := core sql source db store lua engine embed cli
USES_core   :=
USES_sql    := core
USES_source := core sql
USES_db     := core
USES_store  := core db
USES_lua    := core sql source db store
USES_engine := core sql source db store lua
USES_embed  := core sql source db store lua engine
USES_cli    := core sql source db store lua engine embed
PKG_db      := libpq
PKG_store   := libpq
PKG_lua     := lua5.4 libpq
PKG_engine  := lua5.4 libpq
PKG_embed   := lua5.4 libpq jansson
PKG_cli     := lua5.4 libpq jansson
define part_flags
PF_$(1) := -Isrc/$(1) $(foreach u,$(USES_$(1)),-Isrc/$(u)) $(if $(strip $(PKG_$(1))),$(shell pkg-config --cflags $(PKG_$(1))))
endef
$(foreach p,$(PARTS),$(eval $(call part_flags,$(p))))
# the part of src/PART/file.c, for an object's rule
part_of    = $(firstword $(subst /, ,$(1)))
# everything, for the fuzz targets and benchmarks, which test the parts
ALL_INC    := $(foreach p,$(PARTS),-Isrc/$(p)) $(shell pkg-config --cflags $(PKGS))

LIB_SRC   := $(filter-out src/cli/%,$(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:src/%.c=build/obj/%.o) build/obj/lua/embedded.o
CLI_OBJ   := $(patsubst src/%.c,build/obj/%.o,$(wildcard src/cli/*.c))
LUA_SRC   := $(shell find lua -name '*.lua' | sort)

all: bin/moonshift build/moonshift.so build/libmoonshift.a layout-check

bin/moonshift: $(CLI_OBJ) $(LIB_OBJ)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

build/moonshift.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libpq libcrypto jansson) -lm

build/libmoonshift.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(BASE_CFLAGS) $(PF_$(call part_of,$*)) -c -o $@ $<

build/obj/lua/embedded.o: build/embedded.c
	@mkdir -p $(dir $@)
	@echo "CC $<"; $(CC) $(BASE_CFLAGS) $(PF_lua) -c -o $@ $<

build/embedded.c: src/lua/embed.lua $(LUA_SRC)
	@mkdir -p build
	$(LUA) src/lua/embed.lua $@ $(LUA_SRC)

# The rules the include paths cannot express: no part reaches another with
# a relative path, and nothing outside src/cli/ writes to stdout or stderr
# (spec/support/layout-check.sh reads the objects' undefined symbols).
layout-check: $(LIB_OBJ)
	@sh spec/support/layout-check.sh $(LIB_OBJ)

# Sanitizer build, part of `make test`: the same sources under gcc's
# AddressSanitizer + UndefinedBehaviorSanitizer, objects under build/asan/.
# The binary links both runtimes statically: with gcc's shared libubsan next
# to libasan, UBSan ignores log_path and writes to stderr, and run-specs.sh
# collects the reports from log files. The module cannot: it gets libasan
# from LD_PRELOAD (see run-specs.sh).
SAN_CC    ?= gcc
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LINK  := -static-libasan -static-libubsan
SAN_OBJ   := $(LIB_OBJ:build/obj/%=build/asan/obj/%)

asan: build/asan/bin/moonshift build/asan/moonshift.so build/asan/unpreload.so

SAN_CLI   := $(CLI_OBJ:build/obj/%=build/asan/obj/%)

build/asan/bin/moonshift: $(SAN_CLI) $(SAN_OBJ)
	@mkdir -p build/asan/bin
	@echo "LD $@"; $(SAN_CC) $(SAN_FLAGS) $(SAN_LINK) $(LDFLAGS) -o $@ $^ $(LIBS)

build/asan/moonshift.so: $(SAN_OBJ)
	@echo "LD $@"; $(SAN_CC) -shared $(SAN_FLAGS) $(LDFLAGS) -o $@ $^ \
	  $(shell pkg-config --libs libpq libcrypto jansson) -lm

build/asan/unpreload.so: spec/support/unpreload.c
	@mkdir -p build/asan
	@echo "CC $<"; $(CC) $(BASE_CFLAGS) $(ALL_INC) -shared -o $@ $<

build/asan/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "CC $< (asan)"; $(SAN_CC) $(BASE_CFLAGS) $(PF_$(call part_of,$*)) -O1 $(SAN_FLAGS) -c -o $@ $<

build/asan/obj/lua/embedded.o: build/embedded.c
	@mkdir -p $(dir $@)
	@echo "CC $< (asan)"; $(SAN_CC) $(BASE_CFLAGS) $(PF_lua) -O1 $(SAN_FLAGS) -c -o $@ $<

# libFuzzer targets fuzz/*_fuzz.c, built with clang against the library's
# objects under build/fuzz/. `make fuzz` runs each for FUZZ_SECONDS; `make
# test` runs FUZZ_SMOKE_TARGETS for FUZZ_SMOKE seconds each first.
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_OBJ     := $(LIB_OBJ:build/obj/%=build/fuzz/obj/%)
FUZZ_TARGETS := $(patsubst fuzz/%_fuzz.c,%,$(wildcard fuzz/*_fuzz.c))
FUZZ_SECONDS ?= 60
FUZZ_SMOKE   ?= 4
FUZZ_SMOKE_TARGETS ?= $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/%_fuzz)

fuzz: deps
	$(MAKE) fuzz-build
	sh spec/support/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	sh spec/support/fuzz.sh $(FUZZ_SMOKE) $(FUZZ_SMOKE_TARGETS)

build/fuzz/%_fuzz: fuzz/%_fuzz.c build/fuzz/libmoonshift.a
	@echo "LD $@"; $(FUZZ_CC) $(BASE_CFLAGS) $(ALL_INC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  build/fuzz/libmoonshift.a $(LIBS)

build/fuzz/libmoonshift.a: $(FUZZ_OBJ)
	@rm -f $@; $(AR) rcs $@ $^

build/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "CC $< (fuzz)"; $(FUZZ_CC) $(BASE_CFLAGS) $(PF_$(call part_of,$*)) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/obj/lua/embedded.o: build/embedded.c
	@mkdir -p $(dir $@)
	@echo "CC $< (fuzz)"; $(FUZZ_CC) $(BASE_CFLAGS) $(PF_lua) $(FUZZ_CFLAGS) -c -o $@ $<

deps:
	@sh spec/support/deps.sh

# The specs run once per pass of TEST_PASSES (see spec/support/run-specs.sh).
TEST_PASSES ?= plain asan

test: deps
	$(MAKE) all asan fuzz-smoke
	MS_SPEC_PASSES="$(TEST_PASSES)" sh spec/support/run-specs.sh $(SPEC)

# Every spec with bin/moonshift under valgrind's memcheck (slow; not in test).
valgrind: deps
	$(MAKE) all
	MS_SPEC_PASSES=valgrind sh spec/support/run-specs.sh $(SPEC)

demo: deps
	$(MAKE) all
	sh spec/support/demo.sh

demo-stop:
	sh spec/support/pgtmp.sh stop .moonshift-demo

# Benchmarks against a throwaway PostgreSQL 15 (bench/run.sh); writes
# docs/benchmarks.md. BENCH_QUICK=1 make bench: small sizes, a few minutes.
bench: all
	sh bench/run.sh

.PHONY: bench

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib
	install -m 755 bin/moonshift $(DESTDIR)$(PREFIX)/bin/moonshift
	install -m 644 build/libmoonshift.a $(DESTDIR)$(PREFIX)/lib/libmoonshift.a
	install -m 644 src/embed/moonshift.h $(DESTDIR)$(PREFIX)/include/moonshift.h

clean:
	rm -rf build bin

.PHONY: all layout-check asan fuzz fuzz-build fuzz-smoke deps test valgrind demo demo-stop install clean
-include $(wildcard build/obj/*/*.d build/asan/obj/*/*.d build/fuzz/obj/*/*.d build/fuzz/*.d)

# The compiler flags of part PART (`make -s part-flags PART=sql`), for the
# spec that shows a forbidden include fails to compile.
part-flags:
	@echo $(BASE_CFLAGS) $(PF_$(PART))

.PHONY: part-flags
