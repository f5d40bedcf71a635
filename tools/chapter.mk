# The build of one chapter, shared by every chapter.
#
# A chapter's Makefile sets CHAPTER (its two-digit number) and includes this
# file, so that every chapter builds, tests and checks itself the same way
# and a diff between two chapters shows only their code.
#
#   make            library, examples and test programs
#   make examples   the library and the examples only: what a chapter's
#                   `make run` needs (its Makefile says `run: examples`)
#   make test       the forward matrix: suites tests/ch01..chNN against this
#                   chapter, each with both pollers (epoll, poll)
#   make memcheck   every test program under valgrind: errors, leaks and
#                   fds left open all fail
#   make asan       the suites built with AddressSanitizer + UBSan
#   make tsan       the suites built with ThreadSanitizer
#   make lint       cppcheck and clang-tidy on the chapter's sources
#   make docs       Doxygen HTML of the headers plus the guides; warnings fail
#   make fuzz       the libFuzzer targets (tests/chNN/fuzz_*.c) for
#                   FUZZ_SECONDS each (default 30)
#   make bench      the benchmarks of tools/bench/ch01..chNN
#   make clean
#
# Missing tools (Check, valgrind, doxygen, ...) are installed by tools/deps
# on Debian when run as root; otherwise it prints the command to run. A
# chapter whose tests need more names those purposes in TEST_DEPS, and the
# libraries its test programs link in TEST_LIBS.

ifndef CHAPTER
$(error set CHAPTER (two digits) before including chapter.mk)
endif

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
CH_LABEL := $(notdir $(CURDIR))
DEPS := $(TOP)/tools/deps
BUILD ?= build
SANITIZE ?=

# The suites and benchmarks of this chapter and every earlier one.
UPTO = $(foreach d,$(sort $(notdir $(wildcard $(1)/ch[0-9][0-9]))),\
	$(if $(shell [ $(patsubst ch%,%,$(d)) -le $(CHAPTER) ] && echo y),$(d)))
SUITE_DIRS := $(call UPTO,$(TOP)/tests)
BENCH_DIRS := $(call UPTO,$(TOP)/tools/bench)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wvla
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARNINGS) -pthread $(CFLAGS) $(SANITIZE)
CPPFLAGS := -I. -D_GNU_SOURCE -MMD -MP
LDLIBS := -pthread
# Evaluated when a recipe runs, after tools/deps has installed Check.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

# mom/ holds an application's own modules (chapter 6 on); it goes into the
# chapter's archive with the library, so tests link it the same way.
LIB_SRCS := $(wildcard base/*.c net/*.c mom/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libmuduo.a
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# The examples' folder as an absolute path, for the hints that `make run`
# prints: the reader's shell may be at the repository root (the top
# Makefile's `make run`), where a path relative to the chapter is wrong.
EXAMPLE_DIR = $(abspath $(BUILD))/examples

# Helpers linked into every test program: tests/support/, and the lib/
# folder of each suite in the matrix (chapter 3's network helpers only
# exist from chapter 3 on, like the code they drive).
SUPPORT_SRCS := $(wildcard $(TOP)/tests/support/*.c) \
	$(foreach d,$(SUITE_DIRS),$(wildcard $(TOP)/tests/$(d)/lib/*.c))
SUPPORT_OBJS := $(patsubst $(TOP)/tests/%.c,$(BUILD)/obj/support/%.o,$(SUPPORT_SRCS))
SUPPORT_INCLUDES := -I$(TOP)/tests/support \
	$(foreach d,$(SUITE_DIRS),$(if $(wildcard $(TOP)/tests/$(d)/lib),-I$(TOP)/tests/$(d)/lib))
TEST_SRCS := $(foreach d,$(SUITE_DIRS),$(wildcard $(TOP)/tests/$(d)/test_*.c))
TESTS := $(patsubst $(TOP)/tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

.PHONY: all build examples test memcheck asan tsan lint docs bench clean deps \
	fuzz build-examples run-tests run-memcheck run-lint run-docs run-bench run-fuzz
.DELETE_ON_ERROR:
# Keep the objects of test programs and examples: they are intermediate
# files of chained rules, which make would otherwise delete and rebuild.
.SECONDARY:

all:
	@$(DEPS) build
	@$(MAKE) --no-print-directory build

build: $(LIB) $(EXAMPLES) $(TESTS)

# Only the library and the examples, which need nothing but a C compiler,
# libc and pthreads. A chapter's `run` depends on this, not on `build`: the
# test programs need Check, and watching an example run should not wait
# for (or fail on) the test framework.
examples:
	@$(DEPS) examples
	@$(MAKE) --no-print-directory build-examples

build-examples: $(LIB) $(EXAMPLES)

deps:
	@$(DEPS) build memcheck docs lint bench

# --- the library, examples and test programs -------------------------------

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# Rebuilt from scratch, so that an object of a deleted source never lingers.
$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/obj/support/%.o: $(TOP)/tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(SUPPORT_INCLUDES) $(CHECK_CFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: $(TOP)/tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(SUPPORT_INCLUDES) $(CHECK_CFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(CHECK_LIBS) $(TEST_LIBS) $(LDLIBS)

# --- checks ------------------------------------------------------------------

test:
	@$(DEPS) build $(TEST_DEPS)
	@$(MAKE) --no-print-directory run-tests

run-tests: $(TESTS) $(EXAMPLES)
	@$(TOP)/tools/run-tests $(CH_LABEL) $(TESTS)

memcheck:
	@$(DEPS) build memcheck $(TEST_DEPS)
	@$(MAKE) --no-print-directory run-memcheck

run-memcheck: $(TESTS) $(EXAMPLES)
	@$(TOP)/tools/memcheck $(TESTS)

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
asan:
	@$(DEPS) build $(TEST_DEPS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	$(MAKE) --no-print-directory run-tests BUILD=build-asan \
		SANITIZE="$(SAN_FLAGS)" CFLAGS="-O1 -g"

tsan:
	@$(DEPS) build $(TEST_DEPS)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	$(MAKE) --no-print-directory run-tests BUILD=build-tsan \
		SANITIZE="-fsanitize=thread" CFLAGS="-O1 -g"

LINT_SRCS := $(LIB_SRCS) $(wildcard examples/*.c)
lint:
	@$(DEPS) lint
	@$(MAKE) --no-print-directory run-lint

run-lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,style,performance,portability \
		--suppress=missingIncludeSystem -D_GNU_SOURCE -I. $(LINT_SRCS)
	clang-tidy --quiet --config-file=$(TOP)/.clang-tidy $(LINT_SRCS) -- \
		-std=gnu11 -D_GNU_SOURCE -I.

docs:
	@$(DEPS) docs
	@$(MAKE) --no-print-directory run-docs

GUIDES = $(foreach d,$(SUITE_DIRS),$(wildcard $(TOP)/docs/$(d)_*.md))
run-docs:
	@mkdir -p $(BUILD)/docs
	@( cat $(TOP)/docs/Doxyfile; \
	   echo 'PROJECT_NAME = "muduo-c $(notdir $(CURDIR))"'; \
	   echo 'INPUT = $(TOP)/docs/index.md $(TOP)/docs/glossary.md $(GUIDES) $(wildcard base/*.h net/*.h mom/*.h)'; \
	   echo 'IMAGE_PATH = $(TOP)/docs/diagrams $(TOP)/docs/bench'; \
	   echo 'OUTPUT_DIRECTORY = $(BUILD)/docs'; \
	   echo 'WARN_LOGFILE = $(BUILD)/docs/warnings.log' ) | doxygen - >/dev/null
	@if [ -s $(BUILD)/docs/warnings.log ]; then \
		cat $(BUILD)/docs/warnings.log; echo "docs: warnings above"; exit 1; fi
	@echo "docs: $(CURDIR)/$(BUILD)/docs/html/index.html"

# --- fuzzing ------------------------------------------------------------------
# Each tests/chNN/fuzz_NAME.c is a libFuzzer target, built with clang and
# the sanitizers, started from the seeds in tests/chNN/corpus/NAME/; what
# it discovers goes to build-fuzz/, never into the committed seeds.

FUZZ_SRCS := $(foreach d,$(SUITE_DIRS),$(wildcard $(TOP)/tests/$(d)/fuzz_*.c))
FUZZ_BINS := $(patsubst $(TOP)/tests/%.c,build-fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 30

fuzz:
	@$(DEPS) fuzz
	@$(MAKE) --no-print-directory run-fuzz

build-fuzz/%: $(TOP)/tests/%.c $(LIB_SRCS)
	@mkdir -p $(@D)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-D_GNU_SOURCE -I. $(LIB_SRCS) $< -o $@ -pthread

run-fuzz: $(FUZZ_BINS)
	@[ -n "$(FUZZ_BINS)" ] || echo "  (no fuzz targets up to chapter $(CHAPTER))"
	@for bin in $(FUZZ_BINS); do \
		name=$$(basename $$bin); dir=$$(basename $$(dirname $$bin)); \
		seeds=$(TOP)/tests/$$dir/corpus/$${name#fuzz_}; \
		mkdir -p build-fuzz/corpus/$$name; \
		echo "  fuzz  $$dir/$$name for $(FUZZ_SECONDS) s"; \
		$$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build-fuzz/ \
			build-fuzz/corpus/$$name $$seeds 2>build-fuzz/$$name.log \
			|| { tail -n 40 build-fuzz/$$name.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|cov:" build-fuzz/$$name.log | tail -n 2; \
	done

# --- benchmarks ---------------------------------------------------------------

BENCH_SRCS := $(foreach d,$(BENCH_DIRS),$(wildcard $(TOP)/tools/bench/$(d)/*.c))
BENCH_PROGS := $(patsubst $(TOP)/tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
PEER_LIBS = $(shell pkg-config --libs libevent libuv)

bench:
	@$(DEPS) build bench
	@$(MAKE) --no-print-directory run-bench

# One rule for ours and the peers': a program uses either this chapter's
# library or a peer library (libevent, libuv), and the linker keeps only
# what it uses.
$(BUILD)/bench/%: $(TOP)/tools/bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< $(LIB) -o $@ $(PEER_LIBS) $(LDLIBS)

run-bench: $(BENCH_PROGS) $(EXAMPLES)
	@for d in $(BENCH_DIRS); do \
		$(TOP)/tools/bench/$$d/run $(CURDIR)/$(BUILD) || exit 1; done

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
