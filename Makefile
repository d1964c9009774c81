# ngx_member: a dynamic module for Debian 12's nginx, its four plain C
# libraries, their tests, the demo and the benchmark.
#
#   make          build/ngx_http_member_module.so
#   make run      the demo on 127.0.0.1:8080 (make stop ends it)
#   make pages    the card page and the console (html/) into build/html
#   make test     every test; ends with "N passed, N failed"
#   make test-cluster  the ledger, scanner, OA and outbox tests and the
#                 cluster's own on a Redis Cluster (make test runs them)
#   make test-asan  the integration tests against the module built with
#                 AddressSanitizer (build-asan/); ends like make test
#   make bench    the card benchmark against the peers (bench/README.md)
#   make bench-codes  code.png and verify against the QR peers (bench/README.md)
#   make bench-campaigns  a triggers' pass over 1,000,000 members (bench/campaigns.sh)
#   make bench-compare BASE=<commit>  the benchmarks before and after a change
#   make bench-scale  what a member costs Redis, and 200,000 (docs/scale.md)
#   make bench-wxpay  WeChat Pay notifications verified per second in
#                 process, library and bare OpenSSL (docs/wxpay.md)

SHELL := /bin/bash
.DEFAULT_GOAL := all

NGX_SRC := /usr/share/nginx/src
MODULE  := build/ngx_http_member_module.so

# Debian packages the build, the demo and the tests need.
DEB_BUILD := gcc make pkg-config nginx nginx-dev libhiredis-dev \
             libjansson-dev libssl-dev libqrencode-dev libpng-dev \
             libexpat1-dev
DEB_RUN   := redis-server redis-tools curl jq openssl
DEB_TEST  := libcmocka-dev python3 zbar-tools openssl chromium \
             fonts-wqy-microhei
# Node.js for the pages' build and the browser tests: only where no npm is
# on the PATH (NodeSource's nodejs carries its own npm and conflicts with
# Debian's npm package)
DEB_NODE  := nodejs npm
DEB_BENCH := wrk lua-nginx-redis libnginx-mod-http-lua lua-cjson
DEB_FUZZ  := clang-14 libfuzzer-14-dev libexpat1-dev libjansson-dev libssl-dev

CFLAGS_LIB := -O2 -g -Wall -Wextra -Werror -fPIC -std=gnu99 \
              -D_FORTIFY_SOURCE=2 -fstack-protector-strong

GATEWAY_SRCS := $(wildcard gateway/*.c)
QRCODE_SRCS  := $(wildcard qrcode/*.c)
RULES_SRCS   := $(wildcard rules/*.c)
KEYSPACE_SRCS := $(wildcard keyspace/*.c)
GATEWAY_OBJS := $(GATEWAY_SRCS:%.c=build/obj/%.o)
QRCODE_OBJS  := $(QRCODE_SRCS:%.c=build/obj/%.o)
RULES_OBJS   := $(RULES_SRCS:%.c=build/obj/%.o)
KEYSPACE_OBJS := $(KEYSPACE_SRCS:%.c=build/obj/%.o)
LIBS_A       := build/libmember_gateway.a build/libmember_qrcode.a \
                build/libmember_rules.a build/libmember_keyspace.a

MODULE_SRCS  := $(wildcard ngx_member_module/*.c ngx_member_module/*/*.c \
                          ngx_member_module/*/*.h)
LUA_SCRIPTS  := $(sort $(wildcard ngx_member_module/lua/*.lua))
GEN          := build/gen/ngx_http_member_scripts.c \
                build/gen/ngx_http_member_scripts.h

UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_BINS    := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
UNIT_LIBS    := -lcmocka -lqrencode -lpng -lexpat -ljansson -lcrypto

.PHONY: all deps deps-test deps-bench deps-node unit integration test run \
        stop pages bench bench-codes bench-campaigns bench-compare clean \
        test-asan test-cluster bench-scale bench-wxpay

all: deps $(MODULE)

# apt-get only what is missing, so that a second run costs one dpkg query.
define apt_install
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends $$missing \
	        >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEB_BUILD) $(DEB_RUN))

deps-test: deps deps-node
	$(call apt_install,$(DEB_TEST))

deps-node:
	$(if $(shell command -v npm),,$(call apt_install,$(DEB_NODE)))

deps-bench: deps
	$(call apt_install,$(DEB_BENCH))

deps-fuzz:
	$(call apt_install,$(DEB_FUZZ))

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -MMD -MP -c -o $@ $<

-include $(GATEWAY_OBJS:.o=.d) $(QRCODE_OBJS:.o=.d) $(RULES_OBJS:.o=.d) \
         $(KEYSPACE_OBJS:.o=.d)

build/libmember_gateway.a: $(GATEWAY_OBJS)
	rm -f $@ && ar rcs $@ $^

build/libmember_qrcode.a: $(QRCODE_OBJS)
	rm -f $@ && ar rcs $@ $^

build/libmember_rules.a: $(RULES_OBJS)
	rm -f $@ && ar rcs $@ $^

build/libmember_keyspace.a: $(KEYSPACE_OBJS)
	rm -f $@ && ar rcs $@ $^

# Redis scripts are .lua files of their own, compiled into the module.
$(GEN): $(LUA_SCRIPTS) tools/lua2c.py
	@mkdir -p build/gen
	tools/lua2c.py build/gen $(LUA_SCRIPTS)

build/Makefile: config
	mkdir -p build && cd $(NGX_SRC) && . ./conf_flags && ./configure \
	  --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	  --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	  "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	  --builddir=$(CURDIR)/build >$(CURDIR)/build/configure.log

# The layer rule (core <- redis <- ledger <- wechat <- member <- admin):
# no file reaches a layer above its own (tools/layers.py).
build/layers.ok: $(MODULE_SRCS) tools/layers.py
	@mkdir -p build
	tools/layers.py ngx_member_module && touch $@

# The archives are not prerequisites nginx's Makefile knows: remove the .so
# so that it is relinked.
$(MODULE): build/layers.ok build/Makefile $(MODULE_SRCS) $(LIBS_A) $(GEN)
	rm -f $@ && $(MAKE) -s -C $(NGX_SRC) -f $(CURDIR)/build/Makefile modules

build/tests/%: tests/unit/%.c $(LIBS_A)
	@mkdir -p build/tests
	$(CC) $(CFLAGS_LIB) -Igateway -Iqrcode -Irules -Ikeyspace \
	    -DTEST_SOURCE_ROOT='"$(CURDIR)"' -o $@ $< $(LIBS_A) $(UNIT_LIBS)

# codes of any member and time, for the tests and the benchmark
build/member-code: tools/member_code.c build/libmember_qrcode.a
	$(CC) $(CFLAGS_LIB) -Iqrcode -o $@ $< build/libmember_qrcode.a \
	    -lqrencode -lpng -lcrypto

unit: deps-test $(UNIT_BINS)

integration: deps-test $(MODULE)

# the pages: ECharts and playwright-core from package-lock.json; assets
# renamed by their content's hash (tools/pages.mjs)
PAGES_SRCS := $(shell find html -type f) tools/pages.mjs

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

build/html/.built: node_modules/.package-lock.json $(PAGES_SRCS)
	node tools/pages.mjs html build/html && touch $@

pages: deps-node build/html/.built

test: deps-test $(MODULE) $(UNIT_BINS) build/member-code pages
	tests/run.sh

# the ledger, scanner, OA and outbox integration tests again, and
# tests/integration/test_cluster.py, on a Redis Cluster of six
# redis-servers, three masters and their replicas (harness.py, cluster.py)
test-cluster: deps-test $(MODULE) build/member-code
	python3 tests/integration/run.py --cluster

# The module again with AddressSanitizer, in build-asan/ (the scripts and
# the archives of build/ are shared: gateway/ and qrcode/ have make fuzz).
# Debian's nginx is not instrumented: libasan is preloaded into it, and a
# report in any nginx process fails the run (tests/asan.sh).
ASAN_MODULE := build-asan/ngx_http_member_module.so
ASAN_CC_OPT := -g -O1 -fno-omit-frame-pointer -fsanitize=address \
               -fno-common -U_FORTIFY_SOURCE
# every integration file but the browser's (Chromium's timing, not ours)
ASAN_TESTS  ?= $(filter-out test_browser,$(basename $(notdir \
                   $(wildcard tests/integration/test_*.py))))

build-asan/Makefile: config
	mkdir -p build-asan && cd $(NGX_SRC) && . ./conf_flags && ./configure \
	  --with-cc-opt="$$(dpkg-buildflags --get CPPFLAGS) -fPIC $(ASAN_CC_OPT)" \
	  --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC -fsanitize=address" \
	  "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	  --builddir=$(CURDIR)/build-asan >$(CURDIR)/build-asan/configure.log

$(ASAN_MODULE): build/layers.ok build-asan/Makefile $(MODULE_SRCS) $(LIBS_A) \
                $(GEN)
	rm -f $@ && $(MAKE) -s -C $(NGX_SRC) -f $(CURDIR)/build-asan/Makefile \
	    modules

test-asan: deps-test $(ASAN_MODULE) build/member-code pages
	tests/asan.sh $(ASAN_TESTS)

run: all pages
	tools/demo.sh start

stop:
	tools/demo.sh stop

bench: deps-bench $(MODULE) build/member-code
	bench/run.sh

# zbarimg (deps-test) reads the PNGs back; the Node peer needs Node.js >= 20 with npm
bench-codes: deps-bench deps-test $(MODULE) build/member-code
	bench/codes.sh

# the triggers' pass over 1,000,000 members and what it costs card lookups
bench-campaigns: deps-bench $(MODULE)
	bench/campaigns.sh

# a year of 1,000 typical members through the module, then 200,000 copies:
# Redis' memory a member (bench/scale.py, docs/scale.md)
bench-scale: deps-bench $(MODULE) build/member-code
	python3 bench/scale.py

# the in-process bound of WeChat Pay notifications: RSA-2048 verify and
# AES-256-GCM of a ~1 KB resource, through gateway/ and by bare OpenSSL
# calls (bench/wxpay_bound.c); WXPAY_SECONDS a row
WXPAY_SECONDS ?= 2

build/wxpay-bound: bench/wxpay_bound.c build/libmember_gateway.a
	$(CC) $(CFLAGS_LIB) -Igateway -o $@ $< build/libmember_gateway.a \
	    -ljansson -lexpat -lcrypto

bench-wxpay: deps build/wxpay-bound
	build/wxpay-bound -s $(WXPAY_SECONDS)

# the same benchmarks for the module of BASE (a commit) and of this tree,
# one after the other (bench/compare.sh; BENCHES="run codes campaigns")
bench-compare: deps-bench deps-test $(MODULE) build/member-code
	BASE="$(BASE)" BENCHES="$(BENCHES)" bench/compare.sh

clean:
	rm -rf build build-asan node_modules

# libFuzzer targets (tests/fuzz/): gateway/'s XML reader, decrypt path and
# WeChat Pay notification checks,
# rules/' validation of the rules JSON, each for FUZZ_SECONDS; not part of
# make test
.PHONY: deps-fuzz fuzz

FUZZ_SECONDS ?= 600
FUZZ_TARGETS := xml decrypt rules wxpay
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -Igateway

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(GATEWAY_SRCS) gateway/member_gateway.h
	@mkdir -p build/fuzz
	clang-14 $(FUZZ_CFLAGS) -o $@ $< $(GATEWAY_SRCS) -lexpat -ljansson -lcrypto

build/fuzz/fuzz_rules: tests/fuzz/fuzz_rules.c $(RULES_SRCS) rules/*.h
	@mkdir -p build/fuzz
	clang-14 $(FUZZ_CFLAGS) -Irules -o $@ $< $(RULES_SRCS) -ljansson

fuzz: deps-fuzz $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# proves the ledger and the fold's brand totals (tools/reconcile.py);
# REDIS=host:port or the path of a unix socket, the demo's by default
REDIS ?= $(CURDIR)/var/demo/redis.sock

.PHONY: reconcile
reconcile:
	tools/reconcile.py --redis $(REDIS) $(RECONCILE_FLAGS)
