# omptrain - every external flag comes from pkg-config.
#   make          build ./omptrain
#   make run      set-up, build, train configs/mnist.ini
#   make test     set-up, build, run every test
CC       ?= gcc
PKGS     := hdf5 inih zlib openblas
TEST_PKGS := cunit
OPTFLAGS ?= -O3 -march=native
CFLAGS   ?= $(OPTFLAGS)
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -Wall -Wextra -MMD -MP -Iinclude
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS) -lm

BUILD    := build
LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.o)

.PHONY: all setup run test check clean
all: omptrain

setup:
	@scripts/setup.sh

run: setup
	@$(MAKE) --no-print-directory omptrain
	./omptrain configs/mnist.ini

test: setup
	@$(MAKE) --no-print-directory check

check: omptrain $(BUILD)/test_omptrain
	$(BUILD)/test_omptrain
	@for t in tests/*.sh; do [ -e "$$t" ] || continue; echo "== $$t"; bash "$$t" || exit 1; done

omptrain: $(BUILD)/main.o $(BUILD)/libomptrain.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/libomptrain.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/test_omptrain: $(TEST_OBJ) $(BUILD)/libomptrain.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -DOT_TEST_DIR='"tests"' -c -o $@ $<

$(BUILD) $(BUILD)/tests:
	mkdir -p $@

clean:
	rm -rf $(BUILD) omptrain

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
