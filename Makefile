# omptrain - every external flag comes from pkg-config.
#   make          build ./omptrain
#   make run      set-up, build, train configs/mnist.ini
#   make test     set-up, build, run every test: the suite (make check), then sanitizers,
#                 race detector, fuzzing and valgrind (make check-hardening)
#   make bench-gemm  omptrain's GEMM kernel vs OpenBLAS on the benchmark models' shapes
CC       ?= gcc
PKGS     := hdf5 inih zlib openblas libprotobuf-c
TEST_PKGS := cunit
# Open MPI, for mpirun -np R ./omptrain (src/dist.c): built in when pkg-config knows ompi-c
# (scripts/setup.sh installs libopenmpi-dev); OT_MPI=0 builds one process without MPI.
OT_MPI   ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(OT_MPI),1)
PKGS     += ompi-c
endif
OPTFLAGS ?= -O3 -march=native
CFLAGS   ?= $(OPTFLAGS)
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -Wall -Wextra -MMD -MP -Iinclude \
            -DOT_MPI=$(OT_MPI)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS) -lm

BUILD    := build
# ONNX export: protobuf-c's C code for the ONNX schema that Debian's libonnx-dev ships,
# generated at build time into $(GEN) (not committed: it follows the installed schema)
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
PROTOC_C   ?= protoc-c
GEN        := $(BUILD)/gen
CFLAGS     += -I$(GEN)
# src/layers/: one file per layer kind (the registry lists them)
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/layers/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o) $(GEN)/onnx.pb-c.o
TEST_SRC := $(wildcard tests/*.c tests/layers/*.c)
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)

.PHONY: all setup run test check check-torch clean
all: omptrain

setup:
	@scripts/setup.sh

run: setup
	@$(MAKE) --no-print-directory omptrain
	./omptrain configs/mnist.ini

# make test fuzzes each target 30 s (FUZZ_SECONDS=60 by itself): with the seed corpora most of
# a target's coverage comes in its first seconds, and CI stays under 20 minutes
test: setup
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory -j2 check-hardening FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# the CUnit suite, then the shell tests as many at a time as there are cores (scripts/run-tests.sh)
check: omptrain $(BUILD)/test_omptrain
	$(BUILD)/test_omptrain
	@scripts/run-tests.sh

# scripts/to_torch.py against omptrain eval (tests/torch/to_torch.sh): it needs python3-torch,
# which make test leaves out (a large install, minutes more of CI), so this installs it
check-torch:
	@scripts/setup.sh python3-torch
	@$(MAKE) --no-print-directory omptrain
	@tests/torch/to_torch.sh

omptrain: $(BUILD)/main.o $(BUILD)/libomptrain.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/libomptrain.a: $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/test_omptrain: $(TEST_OBJ) $(BUILD)/libomptrain.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)/layers
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests/layers
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -Itests -DOT_TEST_DIR='"tests"' -c -o $@ $<

$(BUILD) $(BUILD)/layers $(BUILD)/tests $(BUILD)/tests/layers $(GEN):
	mkdir -p $@

$(GEN)/onnx.pb-c.c $(GEN)/onnx.pb-c.h &: $(ONNX_PROTO) | $(GEN)
	$(PROTOC_C) --c_out=$(GEN) --proto_path=$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(GEN)/onnx.pb-c.o: $(GEN)/onnx.pb-c.c
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# the exporter and its tests include the generated header
$(BUILD)/onnx.o $(BUILD)/tests/test_onnx.o $(BUILD)/tests/test_export.o: $(GEN)/onnx.pb-c.h

# The measurement behind the GEMM choice (docs/benchmarks.md): omptrain's kernel vs OpenBLAS
# on the benchmark models' layer shapes, one thread.
.PHONY: bench-gemm
bench-gemm: $(BUILD)/bench_gemm
	$(BUILD)/bench_gemm

$(BUILD)/bench_gemm: tests/bench/gemm.c $(BUILD)/libomptrain.a | $(BUILD)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

clean:
	rm -rf $(BUILD) omptrain

-include $(wildcard $(BUILD)/*.d $(BUILD)/layers/*.d $(BUILD)/tests/*.d $(BUILD)/tests/layers/*.d $(GEN)/*.d)

# ================================================================ hardening
# Sanitizer, race-detector, fuzzing and memcheck builds. Each lives in its own folder under
# $(BUILD) and never touches ./omptrain or $(BUILD)/test_omptrain; the shell tests run the
# binary named by OMPTRAIN (default ./omptrain).
#   make check-asan        CUnit suite + tests/*.sh under AddressSanitizer + UBSan (gcc)
#   make check-race        training runs + engine/train suites under ThreadSanitizer, with
#                          LLVM's OpenMP runtime and its Archer tool (clang)
#   make fuzz              libFuzzer on the config parser, the IDX reader, the checkpoint loader,
#                          the history reader and the HDF5 data reader, FUZZ_SECONDS each
#   make check-valgrind    valgrind memcheck on short runs and the quicker CUnit suites: no leak,
#                          no bad access
#   make check-portable    the kernels' CUnit suites on the portable build (no -march: one float
#                          a "vector"), which no other build runs, and the same bits as
#                          ./omptrain's kernels (AVX-512 or AVX2) in three short trainings
#   make check-hardening   all five (60 s per fuzz target, two at a time: make fuzz took 3 min 4 s
#                          of it on 2 cores with the targets built; make test gives each 30 s)
# They need clang, libclang-rt-14-dev, libomp-14-dev and valgrind (scripts/setup.sh).
.PHONY: check-asan check-race fuzz check-valgrind check-portable check-hardening

# The project's flags at -O1 with debug information. The sanitizers keep the instruction set
# of the real build, so they check the same GEMM kernel (src/kgemm.c picks it at compile time);
# valgrind 3.19 cannot run AVX-512, so its build gets AVX2 and FMA where the CPU has them.
HARD_CFLAGS := $(filter-out -O% -march=% -mtune=%,$(CFLAGS)) -O1 -g -fno-omit-frame-pointer
HARD_ISA    := $(filter -march=% -mtune=%,$(CFLAGS))
VG_ISA      := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && \
                       grep -qw fma /proc/cpuinfo 2>/dev/null && echo -mavx2 -mfma)
CLANG       ?= clang
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 30
# Archer: the OMPT tool in libomp-14-dev that tells TSan about OpenMP's synchronisation;
# empty: check-race.sh looks for it after setup has installed it.
ARCHER      ?=

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread -Wno-pass-failed
FUZZ_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all

# $(call ot_variant,DIR,CC,FLAGS): DIR/omptrain and DIR/test_omptrain built from the project's
# sources with compiler CC and extra FLAGS (also used to link).
define ot_variant
$(1)/%.o: src/%.c | $(1)/tests
	$(2) $(HARD_CFLAGS) $(3) $$(PKG_CFLAGS) -c -o $$@ $$<
$(1)/tests/%.o: tests/%.c | $(1)/tests
	$(2) $(HARD_CFLAGS) $(3) $$(PKG_CFLAGS) $$(TEST_CFLAGS) -Itests -DOT_TEST_DIR='"tests"' -c -o $$@ $$<
$(1)/gen/onnx.pb-c.o: $(GEN)/onnx.pb-c.c | $(1)/tests
	mkdir -p $(1)/gen
	$(2) $(HARD_CFLAGS) $(3) $$(PKG_CFLAGS) -c -o $$@ $$<
$(1)/onnx.o $(1)/tests/test_onnx.o $(1)/tests/test_export.o: $(GEN)/onnx.pb-c.h
$(1)/libomptrain.a: $(LIB_SRC:src/%.c=$(1)/%.o) $(1)/gen/onnx.pb-c.o
	rm -f $$@ && $$(AR) rcs $$@ $$^
$(1)/omptrain: $(1)/main.o $(1)/libomptrain.a
	$(2) $(HARD_CFLAGS) $(3) -o $$@ $$^ $$(LDFLAGS) $$(LDLIBS)
$(1)/test_omptrain: $(TEST_SRC:tests/%.c=$(1)/tests/%.o) $(1)/libomptrain.a
	$(2) $(HARD_CFLAGS) $(3) -o $$@ $$^ $$(LDFLAGS) $$(TEST_LIBS) $$(LDLIBS)
$(1)/tests:
	mkdir -p $$@ $(1)/layers $(1)/tests/layers $(1)/gen
-include $(wildcard $(1)/*.d $(1)/layers/*.d $(1)/tests/*.d $(1)/tests/layers/*.d)
endef
$(eval $(call ot_variant,$(BUILD)/asan,$(CC),$(ASAN_FLAGS) $(HARD_ISA)))
$(eval $(call ot_variant,$(BUILD)/tsan,$(CLANG),$(TSAN_FLAGS) $(HARD_ISA)))
$(eval $(call ot_variant,$(BUILD)/vg,$(CC),$(VG_ISA)))
$(eval $(call ot_variant,$(BUILD)/portable,$(CC),))

# ASan/LSan reports go to files (log_path), not stderr: tests that capture stderr cannot hide
# them, and a report in a test that expects a failure still fails the check. Every sanitizer
# stop exits 86, never omptrain's own 1 or 2.
check-asan: setup
	@$(MAKE) --no-print-directory $(BUILD)/asan/omptrain $(BUILD)/asan/test_omptrain
	@scripts/hardening/check-asan.sh $(BUILD)/asan

check-race: setup
	@$(MAKE) --no-print-directory $(BUILD)/tsan/omptrain $(BUILD)/tsan/test_omptrain
	@ARCHER=$(ARCHER) CLANG=$(CLANG) scripts/hardening/check-race.sh $(BUILD)/tsan

check-valgrind: setup
	@$(MAKE) --no-print-directory $(BUILD)/vg/omptrain $(BUILD)/vg/test_omptrain
	@scripts/hardening/check-valgrind.sh $(BUILD)/vg

check-portable: setup
	@$(MAKE) --no-print-directory omptrain $(BUILD)/portable/omptrain $(BUILD)/portable/test_omptrain
	@scripts/hardening/check-portable.sh $(BUILD)/portable

# ---------------------------------------------------------------- fuzzing (libFuzzer, clang)
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := config idx
# the config reader checks a list of layers through the layer registry: the kinds come along
# (and the ONNX exporter, which every kind's onnx op calls)
FUZZ_LIB_SRC := src/common.c src/config.c src/data.c src/net.c src/layer.c src/rng.c \
                src/kgemm.c src/conv_sparse.c src/tree.c src/grad.c src/gemm.c src/onnx.c \
                src/winograd.c $(wildcard src/layers/*.c)
FUZZ_CFLAGS  := $(filter-out -fopenmp,$(HARD_CFLAGS)) $(FUZZ_FLAGS) -Wno-unknown-pragmas
FUZZ_LIBS    := $(shell pkg-config --libs inih zlib openblas libprotobuf-c 2>/dev/null) -lm

# (each object makes its folder: a build/fuzz/lib from before a subfolder existed has none)
$(FUZZ_DIR)/lib/%.o: src/%.c | $(FUZZ_DIR)/lib
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/lib/gen/onnx.pb-c.o: $(GEN)/onnx.pb-c.c | $(FUZZ_DIR)/lib
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/lib/onnx.o: $(GEN)/onnx.pb-c.h
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC:src/%.c=$(FUZZ_DIR)/lib/%.o) $(FUZZ_DIR)/lib/gen/onnx.pb-c.o | $(FUZZ_DIR)/lib
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $^ $(LDFLAGS) $(FUZZ_LIBS)
$(FUZZ_DIR)/lib:
	mkdir -p $@ $@/layers $@/gen
.SECONDARY: $(FUZZ_LIB_SRC:src/%.c=$(FUZZ_DIR)/lib/%.o) $(FUZZ_DIR)/lib/gen/onnx.pb-c.o
-include $(wildcard $(FUZZ_DIR)/lib/*.d $(FUZZ_DIR)/lib/layers/*.d)

# The HDF5 readers (checkpoint, history, data) need the trainer, hence the whole library, with
# OpenMP (clang's libomp): its objects go to $(FUZZ_DIR)/h5lib. Each target reads file images
# from memory (tests/fuzz/fuzz_h5.h); tests/fuzz/make_corpus.sh makes their seeds.
FUZZ_H5_TARGETS := ckpt history h5data
FUZZ_H5_CFLAGS  := $(HARD_CFLAGS) $(FUZZ_FLAGS) -Wno-pass-failed
FUZZ_H5_OBJ     := $(LIB_SRC:src/%.c=$(FUZZ_DIR)/h5lib/%.o) $(FUZZ_DIR)/h5lib/gen/onnx.pb-c.o
FUZZ_TARGETS    += $(FUZZ_H5_TARGETS)

$(FUZZ_DIR)/h5lib/%.o: src/%.c | $(FUZZ_DIR)/h5lib
	$(CLANG) $(FUZZ_H5_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/h5lib/gen/onnx.pb-c.o: $(GEN)/onnx.pb-c.c | $(FUZZ_DIR)/h5lib
	$(CLANG) $(FUZZ_H5_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/h5lib/onnx.o: $(GEN)/onnx.pb-c.h
$(FUZZ_H5_TARGETS:%=$(FUZZ_DIR)/fuzz_%): $(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_h5.h \
		tests/fuzz/fuzz_util.h $(FUZZ_H5_OBJ) | $(FUZZ_DIR)/h5lib
	$(CLANG) $(FUZZ_H5_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_H5_OBJ) \
		$(LDFLAGS) $(LDLIBS)
$(FUZZ_DIR)/h5lib:
	mkdir -p $@ $@/layers $@/gen
.SECONDARY: $(FUZZ_H5_OBJ)
-include $(wildcard $(FUZZ_DIR)/h5lib/*.d $(FUZZ_DIR)/h5lib/layers/*.d)

fuzz: setup
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@scripts/hardening/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# One check after the other (their timings and outputs stay apart); `make -j2 check-hardening`
# parallelises the builds inside each.
check-hardening: setup
	@$(MAKE) --no-print-directory check-asan
	@$(MAKE) --no-print-directory check-race
	@$(MAKE) --no-print-directory check-valgrind
	@$(MAKE) --no-print-directory check-portable
	@$(MAKE) --no-print-directory fuzz
