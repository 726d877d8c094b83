# OMERO in C: one entry point.
#   make            build every binary and libomero into build/
#   make test       unit tests (C) then integration tests (pytest driving real processes)
#   make asan       the same tests on an ASan+UBSan build (build-asan/)
#   make install PREFIX=DIR   a self-contained installation
#   make deps       install the Debian packages this needs (idempotent)
#   make run        the README's quick start: build, install to ./dist, start a grid
#   make bench      benchmarks (print figures and ratios; nothing asserted)
#
# Conventions that keep this file short:
#   libomero/**.c                    -> build/lib/libomero.a and libomero.so
#   <dir>/X_main.c                   -> build/bin/omero-X   (cli/omero_main.c -> build/bin/omero)
#   <dir>/other.c                    -> build/ar/<dir>.a, linked into that dir's binaries and the unit tests
#   tests/unit/test_*.c              -> build/tests/test_*  (links every archive)

.DEFAULT_GOAL := all
BUILD   ?= build
PREFIX  ?= /usr/local/omero
PY      ?= /usr/bin/python3
CC      ?= gcc
SAN     ?=

PKGS := libzmq libczmq jansson libevent libevent_openssl libevent_pthreads libpq hdf5 \
        libtiff-4 libxml-2.0 yaml-0.1 libpng libjpeg libturbojpeg libcurl openssl

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhdf5_hl

OPT     ?= -O2
CFLAGS  += -std=gnu11 $(OPT) -g -fPIC -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation \
           -D_GNU_SOURCE -I. -Ilibomero -I$(BUILD)/gen $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm -lcrypt

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
OPT     := -O1
endif

# Every directory holding .c files (outside libomero and the unit tests) makes one archive;
# a binary links its own directory's archive plus the directories named in LINK_<dir>.
SRC_ROOTS := registry router cli services formats tests/servers tests/tools bench
DIRS := $(patsubst %/,%,$(sort $(dir $(shell find $(SRC_ROOTS) -name '*.c' 2>/dev/null))))

# Extra archives per binary directory (directory names, as in DIRS).
LINK_services/blitz     := services/blitz/hql services/blitz/render formats
LINK_services/pixeldata := services/blitz/render formats
LINK_services/tables    := services/blitz services/blitz/hql
LINK_cli                := registry services/blitz
# Test-only tools (never installed) may use any server-side module.
LINK_tests/tools        := services/tables services/blitz/render services/blitz/hql formats

LIB_SRC  := $(shell find libomero -name '*.c' 2>/dev/null | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_A    := $(BUILD)/lib/libomero.a
LIB_SO   := $(BUILD)/lib/libomero.so

# Generated sources (model/ -> SQL schema, HQL map, C type tables) go to $(BUILD)/gen.
GEN_DEPS := $(wildcard model/*)
GEN_STAMP := $(BUILD)/gen/.stamp

define dir_rules
$(1)_SRC   := $$(shell find $(1) -maxdepth 1 -name '*.c' 2>/dev/null | sort)
$(1)_MAINS := $$(filter %_main.c,$$($(1)_SRC))
$(1)_OBJ   := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(filter-out %_main.c,$$($(1)_SRC)))
$(1)_AR    := $$(if $$($(1)_OBJ),$(BUILD)/ar/$$(subst /,_,$(1)).a)
ALL_AR     += $$($(1)_AR)
ALL_OBJ    += $$($(1)_OBJ)
ifneq ($$($(1)_AR),)
$$($(1)_AR): $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	@ar rcs $$@ $$^
endif
endef
$(foreach d,$(DIRS),$(eval $(call dir_rules,$(d))))

binname = $(if $(filter omero_main.c,$(notdir $(1))),omero,omero-$(patsubst %_main.c,%,$(notdir $(1))))

ar_of = $(foreach d,$(1),$(if $($(d)_OBJ),$(BUILD)/ar/$(subst /,_,$(d)).a))

define main_rule
BINS += $(BUILD)/bin/$(call binname,$(1))
INSTALL_BINS += $(if $(filter tests/% bench,$(2)),,$(BUILD)/bin/$(call binname,$(1)))
$(BUILD)/bin/$(call binname,$(1)): $(BUILD)/obj/$(1:.c=.o) $$(call ar_of,$(2) $$(LINK_$(2))) $(LIB_A)
	@mkdir -p $$(dir $$@)
	@echo "LD $$@"
	@$$(CC) $$(LDFLAGS) -o $$@ $$< -Wl,--start-group $$(call ar_of,$(2) $$(LINK_$(2))) $(LIB_A) -Wl,--end-group $$(LDLIBS)
endef
$(foreach d,$(DIRS),$(foreach m,$($(d)_MAINS),$(eval $(call main_rule,$(m),$(d)))))

TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON:%.c=$(BUILD)/obj/%.o)

.PHONY: all test unit integration asan install deps run bench clean
all: $(GEN_STAMP) $(LIB_A) $(LIB_SO) $(BINS) $(TEST_BINS) $(BUILD)/omero.pc

$(GEN_STAMP): $(GEN_DEPS) $(wildcard tools/*.py)
	@mkdir -p $(BUILD)/gen
	@if [ -f model/gen.py ]; then $(PY) model/gen.py $(BUILD)/gen; fi
	@touch $@

$(BUILD)/obj/%.o: %.c | $(GEN_STAMP)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -shared -Wl,-soname,libomero.so.0 -o $@ $^ $(LDLIBS)

# Blitz compiles its own schema additions into the binary.
$(BUILD)/obj/services/blitz/bootstrap.o: services/blitz/blitz_schema.sql

$(BUILD)/omero.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: omero\nDescription: OMERO client library (C)\nVersion: 5.6.10\nRequires: jansson\nRequires.private: libzmq libczmq libcurl openssl\nLibs: -L$${libdir} -lomero\nCflags: -I$${includedir}/omero\n' '$(PREFIX)' > $@

# A unit test names the directories it links in a comment line: /* UNIT_LINK: services/tables */
.SECONDEXPANSION:
unit_links = $(call ar_of,$(shell sed -n 's|.*UNIT_LINK: *\([^*]*\).*|\1|p' tests/unit/$(1).c))
$(BUILD)/tests/%: tests/unit/%.c $(TEST_COMMON_OBJ) $$(call unit_links,$$*) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(TEST_COMMON_OBJ) -Wl,--start-group $(call unit_links,$*) $(LIB_A) -Wl,--end-group $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

unit: all
	@tests/run-unit $(BUILD)

integration: all
	@OMERO_BUILD=$(abspath $(BUILD)) OMERO_SAN=$(SAN) $(PY) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test: unit integration

asan:
	$(MAKE) BUILD=build-asan SAN=1 test

# A self-contained installation: bin/ lib/ include/ etc/ share/ var/.
install: all
	@test -n "$(PREFIX)"
	mkdir -p $(PREFIX)/bin $(PREFIX)/lib/pkgconfig $(PREFIX)/include/omero $(PREFIX)/etc/grid \
	         $(PREFIX)/share/omero $(PREFIX)/var/log
	for b in $(INSTALL_BINS); do install -m 0755 $$b $(PREFIX)/bin/; done
	install -m 0644 $(LIB_A) $(PREFIX)/lib/
	install -m 0755 $(LIB_SO) $(PREFIX)/lib/libomero.so.0
	ln -sf libomero.so.0 $(PREFIX)/lib/libomero.so
	sed 's|^prefix=.*|prefix=$(abspath $(PREFIX))|' $(BUILD)/omero.pc > $(PREFIX)/lib/pkgconfig/omero.pc
	install -m 0644 libomero/omero.h $(PREFIX)/include/omero/
	cp -R descriptors/. $(PREFIX)/etc/grid/
	@if [ -d etc ] && [ -n "$$(ls -A etc)" ]; then cp -R etc/. $(PREFIX)/etc/; fi
	@if [ -d $(BUILD)/gen/share ]; then cp -R $(BUILD)/gen/share/. $(PREFIX)/share/omero/; fi

deps:
	@./tools/deps.sh

run:
	@./tools/quickstart.sh

bench: all
	@for b in bench/*.sh; do [ -x "$$b" ] && BUILD=$(abspath $(BUILD)) "$$b"; done; true

clean:
	rm -rf build build-asan
