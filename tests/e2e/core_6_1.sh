#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# CO-RE promise: the BPF objects built against this host's kernel (6.18) load and behave the
# same on Debian 12's 6.1 kernel, the QEMU tier's guest. The BPF fixture tests
# (build/tests/bpf/test_edge, which embeds build/bpf/edge.bpf.o through its skeleton) run
# unchanged inside a TCG guest booted on that kernel.
#
#   host                                      QEMU guest (TCG, no NIC, serial console)
#   +----------------------------------+      +------------------------------------------+
#   | guest-kernel.sh: Debian 6.1 deb  |----->| linux-image-6.1.0-N-amd64, PVH vmlinux   |
#   | mkinitramfs.sh: busybox, libs,   |----->| /init: mounts proc, sys, bpffs; runs     |
#   |   test_edge, fixtures            |      |   /test/test_edge in /fixtures; reboots  |
#   | build/qemu/core_6_1.console.log  |<-----| ttyS0: cmocka output, edged-guest: lines |
#   +----------------------------------+      +------------------------------------------+
#
# Knobs, mostly to show that the test can fail: CORE_6_1_GUEST_TEST=NAME[,NAME] picks the
# guest's tests (default test_edge; a name that does not exist fails), CORE_6_1_FIXTURES=DIR
# ships other fixtures (wrong expectations fail), CORE_6_1_TIMEOUT bounds the guest (s).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

OUT=${OUT:-build}
QEMU_DIR=${QEMU_CACHE:-build/qemu}
CONSOLE=$QEMU_DIR/core_6_1.console.log
# Every BPF fixture test: each embeds its program's object through its skeleton.
TEST_BINS=("$OUT"/tests/bpf/test_*)
ALL_TESTS=$(for t in "${TEST_BINS[@]}"; do basename "$t"; done | paste -sd, -)
GUEST_TEST=${CORE_6_1_GUEST_TEST:-$ALL_TESTS}
FIXTURES=${CORE_6_1_FIXTURES:-traffic/fixtures}
# Boot plus every BPF test take 15-60 s here under TCG (the DoS flood tests dominate) on an
# idle machine; with six test binaries and a load average of 7 on the 2 cores (several
# helpers' suites at once) the guest took just over 150 s: the margin is for that.
BOOT_TIMEOUT=${CORE_6_1_TIMEOUT:-300}

# fail_with WHAT LOG: a failed check followed by the whole of a multi-line message.
fail_with() {
	fail "$1"
	sed 's/^/       /' "$2"
}

# prepare: sets KERNEL and INITRD, or fails the check and ends the test.
prepare() {
	local err=$E2E_DIR/prepare.err
	if KERNEL=$(bash tests/qemu/guest-kernel.sh 2>"$err"); then
		ok "guest kernel: $(basename "$(dirname "$KERNEL")") (vmlinux, cached in $QEMU_DIR)"
	else
		fail_with "guest kernel: Debian's linux-image-6.1.0-*-amd64-unsigned could not be fetched" "$err"
		summary
		exit
	fi
	if [[ ! -x ${TEST_BINS[0]} ]]; then
		fail "$OUT/tests/bpf/test_* exist" "build them first: make test does"
		summary
		exit
	fi
	if INITRD=$(bash tests/qemu/mkinitramfs.sh -f "$FIXTURES" "${TEST_BINS[@]}" 2>"$err"); then
		ok "initramfs with ${ALL_TESTS//,/ } and their libraries: $(basename "$INITRD")"
	else
		fail_with "initramfs could not be built" "$err"
		summary
		exit
	fi
}

# stop_guest: the cleanup of an interrupted run. TERM to timeout(1), which passes it on to
# QEMU and waits for it; kill -9 would orphan QEMU.
stop_guest() {
	[[ -n ${GUEST_PID:-} ]] || return 0
	kill -TERM "$GUEST_PID" 2>/dev/null
	wait "$GUEST_PID" 2>/dev/null
}

# boot_guest: runs the guest to its end; sets GUEST_RC (124: timed out). No -netdev and
# -nic none: the guest has no network device at all; -no-reboot turns the guest's final
# reboot into QEMU's exit.
boot_guest() {
	[[ $GUEST_TEST =~ ^[A-Za-z0-9_.,-]+$ ]] || GUEST_TEST="invalid-name"
	timeout --kill-after=5 "$BOOT_TIMEOUT" qemu-system-x86_64 \
		-machine pc -accel tcg -cpu qemu64 -smp 1 -m 512 \
		-nodefaults -nographic -serial stdio -nic none -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 quiet panic=-1 edged_test=$GUEST_TEST" \
		</dev/null >"$CONSOLE" 2>&1 &
	GUEST_PID=$!
	wait "$GUEST_PID"
	GUEST_RC=$?
	GUEST_PID=
	# The serial line ends lines with CR LF.
	sed -i 's/\r$//' "$CONSOLE"
}

# guest_lines REGEX: the console lines matching REGEX (anchored by the caller).
guest_lines() { grep -E "$1" "$CONSOLE"; }
no_guest_line() { ! grep -qE "$1" "$CONSOLE"; }
guest_done() { [[ $GUEST_RC -eq 0 ]] && guest_lines '^edged-guest: done$' >/dev/null; }

# Prints the guest's test summaries indented, so that tests/run.sh does not count the
# guest's cmocka lines a second time next to this test's own summary.
show_guest_summary() {
	guest_lines '^(edged-guest: |\[ *(PASSED|FAILED|=+) *\])' | sed 's/^/       guest| /'
}

# expect WHAT WHY CMD...: a check whose failure is explained by WHY.
expect() {
	local what=$1 why=$2
	shift 2
	if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what" "$why"; fi
}

check_boot() {
	local release want
	if [[ $GUEST_RC -eq 124 ]]; then
		fail "guest finished within ${BOOT_TIMEOUT}s" \
			"timed out: raise CORE_6_1_TIMEOUT if the machine is only slow"
	else
		expect "guest ran /init to its end and QEMU exited 0" \
			"QEMU exited $GUEST_RC, or the guest never printed 'edged-guest: done' (crash, panic)" guest_done
	fi
	release=$(guest_lines '^edged-guest: uname ' | sed 's/^edged-guest: uname //')
	want=$(basename "$(dirname "$KERNEL")" | sed -E 's/^linux-image-(.*)-unsigned$/\1/')
	expect "guest booted Debian's 6.1 kernel (uname -r: ${release:-none})" "expected $want" \
		test "$release" = "$want" -a "${release#6.1.}" != "$release"
}

check_tests() {
	local t line passed ran failed
	for t in ${GUEST_TEST//,/ }; do
		line=$(guest_lines "^edged-guest: $t exit " | tail -n 1)
		expect "$t exited 0 in the guest" "${line:-no exit line: the guest never finished it}" \
			test "$line" = "edged-guest: $t exit 0"
	done
	passed=$(guest_lines '^\[  PASSED  \] [0-9]+ test' | awk '{ n += $4 } END { print n + 0 }')
	skipped=$(guest_lines '^\[  SKIPPED \] [0-9]+ test' | awk '{ n += $4 } END { print n + 0 }')
	ran=$(guest_lines '^\[=+\] [0-9]+ test\(s\) run' | awk '{ n += $2 } END { print n + 0 }')
	# A test may skip itself for want of a second CPU in the guest; none may fail.
	expect "BPF programs loaded on 6.1: cmocka PASSED $passed of $ran test(s) in the guest ($skipped skipped)" \
		"every test that ran must pass or skip, and at least one must pass" \
		test "$passed" -gt 0 -a $((passed + skipped)) -eq "$ran"
	failed=$(guest_lines '^\[  FAILED  \]' | head -n 4 | tr '\n' ' ')
	expect "no cmocka FAILED line in the guest" "$failed" test -z "$failed"
	show_guest_summary
}

on_cleanup stop_guest
prepare
boot_guest
check_boot
check_tests
[[ $E2E_FAIL -gt 0 ]] && echo "guest console log: $CONSOLE"
summary
