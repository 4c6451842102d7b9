# mailcred - gets, keeps and hands out mail credentials.
# make; make check; make demo; make bench; make fuzz; make install PREFIX=... DESTDIR=...

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
PKG_CONFIG ?= pkg-config
CC ?= cc
CFLAGS ?= -O2 -g
WERROR ?= -Werror
VERSION = 0.1.0

# mailcred links only libc and jansson, which a cached token needs. The
# rest is opened with dlopen(3) when first needed, so only its headers are
# needed at build time: libcurl on the first network request
# (auth/curl_dl.h), OpenSSL (auth/crypto_dl.h), libsecret and GLib on the
# first keyring call (keyring/secret_dl.h), libqrencode for a QR code
# (cmd/tty.c), and libresolv's DNS answer parser (auth/resolv_dl.h;
# res_query(3) itself is in glibc 2.34's libc). Each must be installed at
# run time for what uses it: libcurl4, libssl3, libsecret-1-0,
# libqrencode4 on Debian.
DL_PKGS = libcurl openssl libsecret-1 libqrencode
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags jansson $(DL_PKGS) 2>/dev/null)
DEP_LIBS := $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null) -ldl -pthread
# Unit tests that call a library themselves link it (the store keeps its
# own pointers: see keyring/secret_dl.h).
SECRET_LIBS := $(shell $(PKG_CONFIG) --libs libsecret-1 2>/dev/null)
QR_LIBS := $(shell $(PKG_CONFIG) --libs libqrencode 2>/dev/null)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)


MC_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -I. \
	-DMAILCRED_VERSION='"$(VERSION)"' $(SAN) $(DEP_CFLAGS) $(CFLAGS)
MC_LDFLAGS = $(SAN) $(LDFLAGS) -Wl,--as-needed

LIB_SRC = $(wildcard auth/*.c) $(wildcard keyring/*.c)
LIB_OBJ = $(LIB_SRC:.c=.o)
CMD_SRC = $(wildcard cmd/*.c)
CMD_OBJ = $(CMD_SRC:.c=.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:.c=)

all: mailcred git-credential-mailcred

# --- Sanitizers and valgrind (make check SANITIZE=1, make check-valgrind) ---
# SANITIZE=1 builds with ASan and UBSan; any report is fatal (no recovery,
# abort), LeakSanitizer included. The options below are exported to every
# test: only a sanitized binary reads them. tests/run-integration.sh sends
# the reports to files in MC_SANITIZER_LOGS and fails a script during
# which one was written, showing it (lsan.supp: the libraries' own leaks).
ifeq ($(SANITIZE),1)
SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
export ASAN_OPTIONS = halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS = halt_on_error=1:abort_on_error=1:print_stacktrace=1
export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
export MC_SANITIZER_LOGS = $(CURDIR)/tests/tmp/sanitizer
# A make run by a test (t-contrib's make install) builds the same way, not
# a plain mailcred over the sanitized one.
export SANITIZE
# t-crash's kill -9 rounds are about crash safety, which the plain run
# checks with 50 rounds per store and rotation; sanitized, each of its
# paths is walked a dozen times (CI's time is bounded).
export CRASH_ROUNDS ?= 12
endif

# Every object, library and binary depends on .build-flags, which holds the
# compiler and the flags it was built with and is rewritten only when they
# change: `make check SANITIZE=1` after `make check` (or the other way
# round, or another CFLAGS) rebuilds everything instead of mixing objects.
BUILD_FLAGS := $(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) | $(MC_LDFLAGS)
ifneq ($(BUILD_FLAGS),$(file <.build-flags))
$(file >.build-flags,$(BUILD_FLAGS))
endif
$(LIB_OBJ) $(CMD_OBJ) libmailcred.a mailcred $(UNIT_BIN): .build-flags

# make check-valgrind: the everyday commands under valgrind against the
# real peers (tests/valgrind.sh; suppressions in tests/valgrind.supp).
# valgrind and ASan do not mix: it needs a plain build.
check-valgrind: deps
ifeq ($(SANITIZE),1)
	@echo "check-valgrind: needs a build without SANITIZE=1"; exit 1
else
	@$(MAKE) --no-print-directory all
	@TEST_TIMEOUT=$${TEST_TIMEOUT:-900} bash tests/run-integration.sh tests/valgrind.sh
endif
# --- end of sanitizers and valgrind ---

libmailcred.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

mailcred: $(CMD_OBJ) libmailcred.a
	$(CC) $(MC_LDFLAGS) -o $@ $(CMD_OBJ) libmailcred.a $(DEP_LIBS)

# git's credential helper is mailcred under another name (cmd/main.c).
git-credential-mailcred: mailcred
	ln -sf mailcred $@

%.o: %.c $(wildcard auth/*.h keyring/*.h cmd/*.h)
	$(CC) $(MC_CFLAGS) -c -o $@ $<

tests/unit/test_%: tests/unit/test_%.c libmailcred.a $(wildcard tests/unit/*.h)
	$(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< libmailcred.a \
		$(MC_LDFLAGS) $(DEP_LIBS) $(CMOCKA_LIBS)

# cmd/ is not in libmailcred.a: a unit test of cmd code links the object it
# tests (and openpty(3) from -lutil, for a real terminal).
tests/unit/test_cmd_common: tests/unit/test_cmd_common.c cmd/common.o \
		libmailcred.a $(wildcard tests/unit/*.h)
	$(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< cmd/common.o \
		libmailcred.a $(MC_LDFLAGS) $(DEP_LIBS) $(CMOCKA_LIBS) -lutil

tests/unit/test_tty: tests/unit/test_tty.c cmd/tty.o libmailcred.a \
		$(wildcard tests/unit/*.h)
	$(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< cmd/tty.o \
		libmailcred.a $(MC_LDFLAGS) $(DEP_LIBS) $(QR_LIBS) $(CMOCKA_LIBS)

# The test's scripted bus encrypts secrets as a Secret Service does:
# OpenSSL's EVP_Encrypt* from libcrypto itself (mailcred only decrypts).
tests/unit/test_ssbus: tests/unit/test_ssbus.c libmailcred.a \
		$(wildcard tests/unit/*.h)
	$(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< libmailcred.a \
		$(MC_LDFLAGS) $(DEP_LIBS) -lcrypto $(CMOCKA_LIBS)

# The test runs a Secret Service of its own and checks items with libsecret.
tests/unit/test_store_ss: tests/unit/test_store_ss.c libmailcred.a \
		$(wildcard tests/unit/*.h)
	$(CC) $(MC_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< libmailcred.a \
		$(MC_LDFLAGS) $(DEP_LIBS) $(SECRET_LIBS) $(CMOCKA_LIBS)

# check, demo and bench first make sure the dependencies are there (as
# root on Debian/Ubuntu they are installed), then build in a fresh make so
# pkg-config sees them.
deps:
	@sh tests/deps.sh

check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all lint $(UNIT_BIN)
	@bash tests/run-all.sh $(UNIT_BIN)

unit: all $(UNIT_BIN)
	@bash tests/run-all.sh --unit-only $(UNIT_BIN)

integration: all
	@bash tests/run-integration.sh

demo: deps
	@$(MAKE) -s --no-print-directory all
	@bash tests/demo.sh

bench: deps
	@$(MAKE) -s --no-print-directory all
	@bash tests/bench.sh

# lint: each recipe line is one check; each script's opening comment has
# its whole rule, and each takes files as arguments too.
# - tests/lint-c.sh: no function STYLE.md bans (atoi, sprintf, strcpy,
#   strcat, strtok) nor their unchecked siblings (atol, atoll, atof,
#   vsprintf, stpcpy, gets), in every *.c and *.h of the tree (.git and
#   node_modules aside). Comments, strings and struct members of those
#   names do not count. It prints FILE:LINE and what to use instead.
# - tests/lint-sh.sh: shellcheck 0.9, every severity, on every shell
#   script, found by content, not only by name: *.sh, *.bash, a #! of sh,
#   bash, dash or ksh, or a "# shellcheck shell=bash" first line (the way
#   a sourced library without #! says it is one). A new script is checked
#   without being listed; zsh files are not (shellcheck cannot read them).
#   Fix what it finds; a false positive is disabled on its own line with
#   "# shellcheck disable=SCnnnn  # why". .shellcheckrc holds the settings
#   (sourced files are followed) and the few checks turned off for the
#   whole tree, each with its reason. Clean results are remembered in
#   .lint-cache/, so only changed scripts are checked again.
# - mandoc -Tlint on the man pages: its warnings and errors fail; its
#   STYLE notes do not (an Xr to a page not installed yet, ours included,
#   is one): t-manual.sh fails on any STYLE note but those.
lint:
	@sh tests/lint-c.sh
	@sh tests/lint-sh.sh
	@mandoc -Tlint -W warning cmd/*.1 cmd/*.5

# fuzz: libFuzzer targets for the parsers that read outside input
# (fuzz/fuzz_*.c; fuzz/run.sh says which and how). The library is built
# again with clang and the sanitizers into fuzz/build/, so the gcc build
# above is untouched. `make fuzz` builds them all and runs each for
# FUZZ_SECS seconds (or FUZZ_RUNS inputs), FUZZ_JOBS at a time; a crash,
# leak or timeout fails it, and its input is left in fuzz/artifacts/.
FUZZ_CC ?= clang
FUZZ_SECS ?= 60
FUZZ_RUNS ?=
FUZZ_JOBS ?= 2
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -I. \
	-DMAILCRED_VERSION='"$(VERSION)"' -g -O1 $(DEP_CFLAGS)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=fuzz/build/%.o)
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:fuzz/%.c=fuzz/build/%)

fuzz/build/%.o: %.c $(wildcard auth/*.h keyring/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
		-c -o $@ $<

fuzz/build/libmailcred.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $(FUZZ_LIB_OBJ)

fuzz/build/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h fuzz/build/libmailcred.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< \
		fuzz/build/libmailcred.a $(DEP_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@FUZZ_SECS='$(FUZZ_SECS)' FUZZ_RUNS='$(FUZZ_RUNS)' \
		FUZZ_JOBS='$(FUZZ_JOBS)' sh fuzz/run.sh $(FUZZ_BIN:fuzz/build/%=%)

fuzz-clean:
	rm -rf fuzz/build

.PHONY: fuzz fuzz-build fuzz-clean

install: mailcred
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 mailcred $(DESTDIR)$(BINDIR)/mailcred
	ln -sf mailcred $(DESTDIR)$(BINDIR)/git-credential-mailcred
	install -m 0644 cmd/mailcred.1 $(DESTDIR)$(MANDIR)/man1/mailcred.1
	install -m 0644 cmd/git-credential-mailcred.1 \
		$(DESTDIR)$(MANDIR)/man1/git-credential-mailcred.1
	install -m 0644 cmd/mailcred.conf.5 $(DESTDIR)$(MANDIR)/man5/mailcred.conf.5
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0644 contrib/completion/mailcred.bash \
		$(DESTDIR)$(BASHCOMPDIR)/mailcred
	# bash-completion loads a command's file by its name, on demand.
	ln -sf mailcred $(DESTDIR)$(BASHCOMPDIR)/git-credential-mailcred
	install -m 0644 contrib/completion/_mailcred $(DESTDIR)$(ZSHCOMPDIR)/_mailcred

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mailcred $(DESTDIR)$(MANDIR)/man1/mailcred.1 \
		$(DESTDIR)$(MANDIR)/man5/mailcred.conf.5 \
		$(DESTDIR)$(BINDIR)/git-credential-mailcred \
		$(DESTDIR)$(MANDIR)/man1/git-credential-mailcred.1 \
		$(DESTDIR)$(BASHCOMPDIR)/mailcred $(DESTDIR)$(ZSHCOMPDIR)/_mailcred \
		$(DESTDIR)$(BASHCOMPDIR)/git-credential-mailcred

clean:
	rm -f mailcred git-credential-mailcred libmailcred.a $(LIB_OBJ) \
		$(CMD_OBJ) $(UNIT_BIN) .build-flags
	rm -rf .lint-cache

.PHONY: all deps unit integration check check-run demo bench lint install \
	uninstall clean check-valgrind
