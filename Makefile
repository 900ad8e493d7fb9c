# edged: build, test, lab, bench, install.
#
#   make            BPF objects + skeletons, build/edged, build/edgectl
#   make test       deps + build + unit, BPF fixture and e2e tests (SAN=1: ASan+UBSan)
#   make lab        deps + build + the default lab run (every default scenario, a report)
#   make lab-qemu   the same with edges as QEMU guests on real NIC drivers (make qemu-image: the guest)
#   make bench      deps + build + benchmarks, printed as a table
#   make deps       installs the Debian packages the project needs (quiet when present)
#   make install    binaries, systemd unit, example config (DESTDIR, PREFIX honoured)

CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
PREFIX  ?= /usr/local
SAN     ?= 0

# Userspace objects of a sanitizer build live apart, so switching SAN never mixes them.
ifeq ($(SAN),1)
OUT := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
OUT := build
SANFLAGS :=
endif

# Quiet by default ("CC edged/main.c"); `make V=1` prints the full commands.
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-8s %s\n' $(1) $(2)
endif

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Ibuild -Ibpf -Iedged $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
LDLIBS  := -lbpf -lelf -lz -lmnl -lnftnl -lmicrohttpd -lyaml -lpthread

BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -Ibuild -Ibpf

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,build/%.skel.h,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/*.h)

# Daemon modules; everything but the two mains is also linked into the unit tests.
LIB_SRCS := $(filter-out edged/main.c edged/edgectl.c,$(wildcard edged/*.c))
LIB_OBJS := $(patsubst edged/%.c,$(OUT)/obj/%.o,$(LIB_SRCS))
# edgectl is a thin client: it reads configs (for -c) and speaks the control protocol.
CTL_OBJS := $(patsubst %,$(OUT)/obj/%.o,edgectl config dos_config syncookie_config lb_config maglev dispatch_config dispatch_compile egress_config port_range wg_key transit_config addr log strbuf ctl_client sockio)
EDGED_HDRS := $(wildcard edged/*.h) $(BPF_HDRS)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(OUT)/tests/bpf/%,$(BPFT_SRCS))
BPFT_LIB  := $(wildcard tests/bpf/harness.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(OUT)/tests/bench/%,$(BENCH_SRCS))

# Keep the BPF objects: the QEMU tier and bench load them, not just the skeletons.
.SECONDARY: $(BPF_OBJS)

.PHONY: all deps test lab lab-qemu qemu-image bench install clean format lint

all: $(OUT)/edged $(OUT)/edgectl $(OUT)/edged-proxy $(OUT)/examples/dispatch_service

deps:
	@bash ci/deps.sh

build/vmlinux.h:
	@mkdir -p build
	$(call say,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

build/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) build/vmlinux.h
	@mkdir -p build/bpf
	$(call say,CLANG,$<)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/%.skel.h: build/bpf/%.bpf.o
	$(call say,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(OUT)/obj/%.o: edged/%.c $(EDGED_HDRS) $(SKELS)
	@mkdir -p $(OUT)/obj
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/edged: $(OUT)/obj/main.o $(LIB_OBJS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(OUT)/edgectl: $(CTL_OBJS)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lyaml

# Socket dispatch: the client library services link (lib/), its example service (examples/),
# and the any-port proxy (proxy/), which reads edged's config file with edgectl's config
# modules. The proxy's unit tests (test_proxy*) link its modules as well.
DISPATCH_LIB := $(OUT)/lib/libedged_dispatch.a
PROXY_OBJS   := $(patsubst proxy/%.c,$(OUT)/obj/proxy/%.o,$(filter-out proxy/main.c,$(wildcard proxy/*.c)))
CONFIG_OBJS  := $(filter-out $(patsubst %,$(OUT)/obj/%.o,edgectl ctl_client sockio),$(CTL_OBJS))

$(OUT)/obj/lib/%.o: lib/%.c lib/%.h
	@mkdir -p $(OUT)/obj/lib
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -Ilib -c $< -o $@

$(DISPATCH_LIB): $(OUT)/obj/lib/edged_dispatch.o
	@mkdir -p $(OUT)/lib
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(OUT)/obj/proxy/%.o: proxy/%.c $(wildcard proxy/*.h) lib/edged_dispatch.h $(EDGED_HDRS)
	@mkdir -p $(OUT)/obj/proxy
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -Ilib -Iproxy -c $< -o $@

$(OUT)/edged-proxy: $(OUT)/obj/proxy/main.o $(PROXY_OBJS) $(CONFIG_OBJS) $(OUT)/obj/metrics_http.o $(DISPATCH_LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lyaml -lmicrohttpd

$(OUT)/examples/dispatch_service: examples/dispatch_service.c lib/edged_dispatch.h $(DISPATCH_LIB)
	@mkdir -p $(OUT)/examples
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Ilib $(LDFLAGS) $< $(DISPATCH_LIB) -o $@

$(OUT)/tests/unit/test_proxy%: tests/unit/test_proxy%.c $(PROXY_OBJS) $(LIB_OBJS) $(EDGED_HDRS)
	@mkdir -p $(OUT)/tests/unit
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Iproxy $(LDFLAGS) $< $(PROXY_OBJS) $(LIB_OBJS) -o $@ $(LDLIBS) -lcmocka

$(OUT)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(EDGED_HDRS)
	@mkdir -p $(OUT)/tests/unit
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) -o $@ $(LDLIBS) -lcmocka

$(OUT)/tests/bpf/%: tests/bpf/%.c $(BPFT_LIB) tests/bpf/harness.h $(SKELS) $(BPF_OBJS) $(LIB_OBJS)
	@mkdir -p $(OUT)/tests/bpf
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/bpf $(LDFLAGS) $< $(BPFT_LIB) $(LIB_OBJS) -o $@ $(LDLIBS) -lcmocka

$(OUT)/tests/bench/%: tests/bench/%.c tests/bench/bench.c tests/bench/bench.h $(BPFT_LIB) $(SKELS) $(LIB_OBJS)
	@mkdir -p $(OUT)/tests/bench
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/bpf -Itests/bench $(LDFLAGS) $< tests/bench/bench.c $(BPFT_LIB) $(LIB_OBJS) -o $@ $(LDLIBS)

# The flood benchmark's generator and its do-nothing floor program.
$(OUT)/tests/bench/flood_gen: tests/bench/flood_gen.c
	@mkdir -p $(OUT)/tests/bench
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ -lbpf

build/bench/%.bpf.o: tests/bench/%.bpf.c
	@mkdir -p build/bench
	$(call say,CLANG,$<)
	$(Q)$(CLANG) -O2 -g -Wall -Werror -target bpf -c $< -o $@

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(BPFT_BINS)
	@OUT=$(OUT) SAN=$(SAN) bash tests/run.sh

lab: deps
	@$(MAKE) --no-print-directory all
	@lab/lab run --default

# The QEMU tier's guest image (lab/qemu/image.sh: this build's edged and tools, cached by content).
qemu-image: all
	@bash lab/qemu/image.sh

# Every default scenario with edges as QEMU guests (virtio-net, e1000), and the guest-only ones.
lab-qemu: deps
	@$(MAKE) --no-print-directory qemu-image
	@lab/lab run --default --tag qemu --qemu

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS) $(OUT)/tests/bench/flood_gen build/bench/xdp_drop.bpf.o build/bench/gre_site.bpf.o
	@OUT=$(OUT) bash tests/bench/run.sh

install: all
	install -D -m 0755 build/edged $(DESTDIR)$(PREFIX)/sbin/edged
	install -D -m 0755 build/edgectl $(DESTDIR)$(PREFIX)/sbin/edgectl
	install -D -m 0755 build/edged-proxy $(DESTDIR)$(PREFIX)/sbin/edged-proxy
	install -D -m 0644 build/lib/libedged_dispatch.a $(DESTDIR)$(PREFIX)/lib/libedged_dispatch.a
	install -D -m 0644 lib/edged_dispatch.h $(DESTDIR)$(PREFIX)/include/edged_dispatch.h
	install -D -m 0644 packaging/edged@.service $(DESTDIR)/etc/systemd/system/edged@.service
	sed -i 's#/usr/local/sbin#$(PREFIX)/sbin#g' $(DESTDIR)/etc/systemd/system/edged@.service
	@if [ -e $(DESTDIR)/etc/edged/edge.yaml ]; then \
		echo "keeping existing $(DESTDIR)/etc/edged/edge.yaml"; \
	else \
		install -D -m 0644 packaging/edge.example.yaml $(DESTDIR)/etc/edged/edge.yaml; \
	fi

clean:
	rm -rf build

C_FILES  = $(wildcard edged/*.[ch] bpf/*.[ch] tests/unit/*.c tests/bpf/*.[ch] tests/bench/bench*.[ch] lib/*.[ch] examples/*.c proxy/*.[ch])
SH_FILES = $(wildcard ci/*.sh tests/*.sh tests/*/*.sh lab/*.sh lab/qemu/*.sh lab/qemu/init .ci/run)

format:
	clang-format -i $(C_FILES)

# What a reviewer runs before merging: formatting, shellcheck, cppcheck. readdir(3) is
# safe per directory stream (glibc), and readdir_r, which cppcheck suggests, is deprecated.
lint:
	clang-format --dry-run -Werror $(C_FILES)
	shellcheck -x $(SH_FILES)
	cppcheck -q --error-exitcode=1 --enable=warning,portability --library=posix --suppress=readdirCalled -DLIBBPF_OPTS\(...\)= -Ibpf -Iedged edged/
