# flywheel — one build: GNU Make with pkg-config.
#
#   make            build ./flywheel
#   make check      build with ASan+UBSan, run every test, check formatting
#   make bench      run the benchmarks (bench/)
#   make fuzz       run the fuzzers for a bounded time (FUZZ_SECONDS, default 60)
#   make format     apply .clang-format to every C file
#
# Objects live out of tree under build/<flavour>/; header dependencies are
# tracked automatically (-MMD).

CC       ?= cc
PKGS     := yaml-0.1 jansson libuv sqlite3 libcrypto libcurl
# libmicrohttpd is built here from Debian's source, without HTTPS
# (scripts/build-mhd; the tarball comes from scripts/fetch-sources).
MHD_DIR := build/mhd
MHD_LIB := $(MHD_DIR)/lib/libmicrohttpd.a
MHD_TARBALL := deps/libmicrohttpd_0.9.75.orig.tar.xz
PKG_CFLAGS := -I$(MHD_DIR)/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Linking: what every run needs is linked statically, from the archives the
# -dev packages install (libuv's is libuv_a.a) and libmicrohttpd's built
# here, with glibc shared; of libcrypto.a only the SHA-256 block functions
# are used (src/util/crypto.c). libcurl (some twenty libraries: gnutls,
# krb5, ldap...) and the rest of libcrypto are not linked at all:
# src/util/dl_curl.c and dl_crypto.c dlopen them on first use. A client
# command starts in well under 1 ms instead of 5 ms spent in the dynamic
# loader (docs/development.md).
libdir = $(shell pkg-config --variable=libdir $(1) 2>/dev/null)
STATIC_LIBS := $(call libdir,yaml-0.1)/libyaml.a $(call libdir,jansson)/libjansson.a \
	$(call libdir,libuv)/libuv_a.a $(call libdir,sqlite3)/libsqlite3.a \
	$(call libdir,libcrypto)/libcrypto.a $(MHD_LIB)
PKG_LIBS   := $(STATIC_LIBS) -lpthread -ldl

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP
REL_CFLAGS  := -O2 -g $(BASE_CFLAGS)
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS  := -O1 -g $(SAN_FLAGS) $(BASE_CFLAGS)
LIBS        := $(PKG_LIBS) -lm
# The sanitizer build takes libuv's shared library: with libuv linked in,
# its destructor joins the pool threads at exit after libcrypto's atexit
# cleanup has dropped the key that frees a thread's OpenSSL error state,
# and LeakSanitizer reports that state (904 bytes per thread that hashed).
SAN_LIBS    := $(filter-out %/libuv_a.a,$(LIBS)) -luv

SRCS      := $(shell find src -name '*.c' ! -name main.c | sort)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
HELPER    := tests/helper/test-tool.c

REL := build/rel
SAN := build/san

# The web UI (ui/, plain files, no build step) becomes a C array of bytes in
# build/gen/ui_assets.c, compiled into the binary like a source file. The
# list of files is kept in build/gen/ui-files, rewritten only when it
# changes, so that adding or removing a file regenerates the array too.
GEN       := build/gen
UI_FILES  := $(sort $(wildcard ui/*))
UI_C      := $(GEN)/ui_assets.c
UI_LIST   := $(shell mkdir -p $(GEN) && echo '$(UI_FILES)' | cmp -s - $(GEN)/ui-files || \
		echo '$(UI_FILES)' >$(GEN)/ui-files)

REL_OBJS := $(SRCS:%.c=$(REL)/%.o) $(REL)/$(UI_C:.c=.o)
SAN_OBJS := $(SRCS:%.c=$(SAN)/%.o) $(SAN)/$(UI_C:.c=.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(SAN)/unit/%)

# V=1 shows the full commands.
Q := $(if $(V),,@)

all: flywheel flywheel-leader

# Position-independent, as the toolchain's default (docs/development.md).
REL_LDFLAGS :=

flywheel: $(REL)/src/main.o $(REL)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(REL_CFLAGS) $(REL_LDFLAGS) -o $@ $^ $(LIBS)

# The job leader alone: it starts once per job. Linked statically with musl
# when musl-gcc is installed (no dynamic loader and no CPU probing at start:
# 0.14 ms against 0.52 ms with glibc on the benchmarks' machine), else with
# the C library only. Built from its sources at once, with no package's
# flags, so that no glibc header meets musl's.
LEADER_SRCS := src/leader/main.c src/exec/leader.c src/util/buf.c src/util/xalloc.c
LEADER_HDRS := src/exec/leader.h src/util/buf.h src/util/xalloc.h
MUSL_GCC    := $(shell command -v musl-gcc 2>/dev/null)
LEADER_CC   := $(if $(MUSL_GCC),$(MUSL_GCC) -static,$(CC))
flywheel-leader: $(LEADER_SRCS) $(LEADER_HDRS)
	@echo "  LINK    $@$(if $(MUSL_GCC), (musl, static))"
	$(Q)$(LEADER_CC) -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -O2 -g -o $@ $(LEADER_SRCS)

$(SAN)/flywheel-leader: $(LEADER_SRCS:%.c=$(SAN)/%.o)
	@echo "  LINK    $@"
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^

$(UI_C): $(UI_FILES) $(GEN)/ui-files scripts/embed-ui
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)scripts/embed-ui $@ $(UI_FILES)

$(REL)/libflywheel.a: $(REL_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $(filter %.o,$^)

$(REL)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(REL_CFLAGS) -c -o $@ $<

$(SAN)/libflywheel.a: $(SAN_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $(filter %.o,$^)

$(SAN)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $< (sanitizers)"
	$(Q)$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(SAN)/flywheel: $(SAN)/src/main.o $(SAN)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(SAN_LIBS)

$(SAN)/test-tool: $(SAN)/tests/helper/test-tool.o $(SAN)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(SAN_LIBS)

$(SAN)/unit/%: $(SAN)/tests/unit/%.o $(SAN)/libflywheel.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(SAN_LIBS) -lcmocka

# The release build's test-tool, for benchmarks.
$(REL)/test-tool: $(REL)/tests/helper/test-tool.o $(REL)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

# The API's fuzz target without libFuzzer (tests/fuzz/replay.c), for t0003
# to replay its seed corpus; the job leader sits beside it.
$(SAN)/fuzz-api: $(SAN)/tests/fuzz/fuzz_api.o $(SAN)/tests/fuzz/replay.o $(SAN)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(SAN_LIBS)

check-build: $(SAN)/flywheel $(SAN)/flywheel-leader $(SAN)/test-tool $(SAN)/fuzz-api $(UNIT_BINS)

check: check-build
	@FLYWHEEL_BUILD=$(SAN) tests/run $(UNIT_BINS)

bench: flywheel flywheel-leader $(REL)/test-tool $(REL)/exec-time
	@bench/run

# The benchmarks' timer: the C library only, so that it adds nothing to
# what it measures (bench/tools/exec-time.c).
$(REL)/exec-time: bench/tools/exec-time.c
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

# Fuzzing (clang's libFuzzer). Every source but main.c is compiled with
# coverage instrumentation and the sanitizers into an archive, as for the
# other builds, so that a target links only the modules it reaches: the
# parser's target needs neither the engine nor the store, and must not fail
# to link because of them. New inputs go to build/fuzz/corpus, crashes to
# build/fuzz/crash-*, leak-*, oom-* or timeout-*.
FUZZ_SECONDS ?= 60
FUZZ := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -g -O1 -MMD -MP \
	-fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_OBJS := $(SRCS:%.c=$(FUZZ)/%.o) $(FUZZ)/$(UI_C:.c=.o)

$(FUZZ)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $< (fuzzing)"
	$(Q)clang $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ)/libflywheel.a: $(FUZZ_OBJS)
	@rm -f $@
	$(Q)ar rcs $@ $(filter %.o,$^)

$(FUZZ)/fuzz_pipeline: $(FUZZ)/tests/fuzz/fuzz_pipeline.o $(FUZZ)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ)/fuzz_tz: $(FUZZ)/tests/fuzz/fuzz_tz.o $(FUZZ)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ)/fuzz_jsonptr: $(FUZZ)/tests/fuzz/fuzz_jsonptr.o $(FUZZ)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

$(FUZZ)/fuzz_mask: $(FUZZ)/tests/fuzz/fuzz_mask.o $(FUZZ)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

# The API's target runs jobs: the leader must be beside it.
$(FUZZ)/fuzz_api: $(FUZZ)/tests/fuzz/fuzz_api.o $(FUZZ)/libflywheel.a $(FUZZ)/flywheel-leader
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $(filter %.o %.a,$^) $(LIBS)

$(FUZZ)/flywheel-leader: flywheel-leader
	@mkdir -p $(@D)
	$(Q)cp $< $@

# The forges' webhook parsers, one target each (tests/fuzz/fuzz_forge.h).
FORGE_FUZZERS := github gitlab gitea
$(FORGE_FUZZERS:%=$(FUZZ)/fuzz_%): $(FUZZ)/fuzz_%: $(FUZZ)/tests/fuzz/fuzz_%.o $(FUZZ)/libflywheel.a
	@echo "  LINK    $@"
	$(Q)clang -g -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

# Each fuzzer runs for FUZZ_SECONDS: the pipeline parser, the TZif reader
# (new inputs in build/fuzz/corpus-tz, crashes as build/fuzz/tz-crash-*),
# JSON pointers against response bodies (corpus-jsonptr, jsonptr-crash-*),
# the API's request bodies against a live server (corpus-api, api-crash-*;
# one input per request, so far fewer executions per second), the log masker
# against a plain scan (corpus-mask, mask-crash-*), then the webhook payloads
# of each forge (corpus-github, github-crash-*, ...).
fuzz: $(FUZZ)/fuzz_pipeline $(FUZZ)/fuzz_tz $(FUZZ)/fuzz_jsonptr $(FUZZ)/fuzz_api \
	$(FUZZ)/fuzz_mask $(FORGE_FUZZERS:%=$(FUZZ)/fuzz_%)
	@mkdir -p $(FUZZ)/corpus $(FUZZ)/corpus-tz $(FUZZ)/corpus-jsonptr $(FUZZ)/corpus-api \
		$(FUZZ)/corpus-mask $(FORGE_FUZZERS:%=$(FUZZ)/corpus-%)
	$(FUZZ)/fuzz_pipeline -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/ \
		-dict=tests/fuzz/pipeline.dict $(FUZZ)/corpus tests/fuzz/corpus
	$(FUZZ)/fuzz_tz -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/tz- \
		$(FUZZ)/corpus-tz tests/fuzz/corpus-tz
	$(FUZZ)/fuzz_jsonptr -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/jsonptr- \
		$(FUZZ)/corpus-jsonptr tests/fuzz/corpus-jsonptr
	$(FUZZ)/fuzz_api -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=120 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/api- \
		-dict=tests/fuzz/api.dict $(FUZZ)/corpus-api tests/fuzz/corpus-api
	$(FUZZ)/fuzz_mask -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ)/mask- \
		$(FUZZ)/corpus-mask tests/fuzz/corpus-mask
	$(Q)for f in $(FORGE_FUZZERS); do \
		$(FUZZ)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ)/$$f- \
			-dict=tests/fuzz/forge.dict $(FUZZ)/corpus-$$f tests/fuzz/corpus-$$f || exit 1; \
	done

FORMAT_FILES = $(shell find src tests -name '*.c' -o -name '*.h' | sort)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES)

$(MHD_LIB): scripts/build-mhd $(wildcard $(MHD_TARBALL))
	@echo "  BUILD   libmicrohttpd (without HTTPS)"
	$(Q)scripts/build-mhd $(MHD_TARBALL) $(MHD_DIR)

# server/http.c includes the header built with the library; what links it
# is linked again when it changes (through libflywheel.a, which every
# program links).
$(REL)/src/server/http.o $(SAN)/src/server/http.o $(FUZZ)/src/server/http.o: | $(MHD_LIB)
$(REL)/libflywheel.a $(SAN)/libflywheel.a $(FUZZ)/libflywheel.a: $(MHD_LIB)

clean:
	rm -rf build flywheel flywheel-leader

.PHONY: all check check-build bench fuzz format format-check clean

-include $(shell find build -name '*.d' 2>/dev/null)

# Keep intermediate objects (test objects would otherwise be rebuilt every time).
.SECONDARY:
