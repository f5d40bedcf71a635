# muduo-c: a multi-reactor network library in C, rebuilt in chapters.
#
#   make run          the newest chapter's flagship program (builds only
#                     the library and examples: no test framework needed)
#   make test         every chapter with the full forward test matrix
#   make memcheck     every test program under valgrind (leaks, fds)
#   make asan         the suites under AddressSanitizer + UBSan
#   make tsan         the suites under ThreadSanitizer
#   make lint         cppcheck and clang-tidy, every chapter
#   make fuzz         the fuzz targets, FUZZ_SECONDS each (default 30)
#   make docs         Doxygen sites of every chapter; diagrams up to date
#   make bench        the benchmarks, ours beside the peers, in one run
#   make diff CH=NN   what chapter NN changed: its code (diff -ruN against
#                     NN-1), then its suites tests/chNN (new files); only
#                     files git tracks. PART=code or PART=tests: one part
#   make exercise CH=NN   check your answers to chapter NN's exercises
#                     (exercises/chNN/); SOLUTIONS=1: the reference ones
#   make exercises    CI's proof: every exercise's skeleton fails its
#                     suite, every solution passes (and under valgrind)
#   make diagrams     re-render docs/diagrams/*.dot to SVG
#   make deps         install every tool the targets use (Debian, as root)
#   make clean
#
# Each chapter also builds alone: make -C ch01_loop test

CHAPTERS := $(sort $(wildcard ch[0-9][0-9]_*))
LATEST := $(lastword $(CHAPTERS))

.PHONY: all test memcheck asan tsan lint fuzz docs run bench diff diagrams deps clean \
	exercise exercises

# Runs a target in every chapter; keeps going, and fails at the end if any
# chapter failed, so that one run shows every broken chapter.
define each_chapter
	@failed=""; for ch in $(CHAPTERS); do \
		echo "== $(1): $$ch"; \
		$(MAKE) --no-print-directory -C $$ch $(1) || failed="$$failed $$ch"; \
	done; \
	if [ -n "$$failed" ]; then echo "$(1) failed in:$$failed"; exit 1; fi
endef

all:
	$(call each_chapter,all)

test:
	$(call each_chapter,test)

memcheck:
	$(call each_chapter,memcheck)

asan:
	$(call each_chapter,asan)

tsan:
	$(call each_chapter,tsan)

lint:
	$(call each_chapter,lint)

fuzz:
	$(call each_chapter,fuzz)

docs:
	@tools/deps docs
	@tools/diagrams --check
	$(call each_chapter,docs)

diagrams:
	@tools/deps docs
	@tools/diagrams

run:
	@$(MAKE) --no-print-directory -C $(LATEST) run

bench:
	@$(MAKE) --no-print-directory -C $(LATEST) bench

diff:
	@tools/chapter-diff $(CH) $(PART)

# The chapters that have exercises: exercises/chNN.
EXERCISE_CHAPTERS := $(patsubst exercises/ch%,%,$(wildcard exercises/ch[0-9][0-9]))

exercise:
	@test -n "$(CH)" || { echo "make exercise CH=NN (one of: $(EXERCISE_CHAPTERS))"; exit 2; }
	@tools/exercise $(if $(SOLUTIONS),--solutions) $(CH)

exercises:
	@$(if $(EXERCISE_CHAPTERS),tools/exercise --prove $(EXERCISE_CHAPTERS),echo "no exercises yet")

deps:
	@tools/deps build memcheck lint docs bench fuzz

clean:
	@for ch in $(CHAPTERS); do $(MAKE) --no-print-directory -C $$ch clean; done
