#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# edged's egress on kernel WireGuard, live: the host kernel has no WireGuard, Debian 6.1's
# (the QEMU tier's guest) has. A TCG guest runs edged with `backend: auto`, which must pick
# the kernel backend and configure the device over generic netlink (set, get, runtime peer
# add and del), while a kernel WireGuard client in a guest namespace reaches an internet host
# through it (tests/qemu/egress_guest_init.sh has the topology). About 30-60 s.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

OUT=${OUT:-build}
QEMU_DIR=${QEMU_CACHE:-build/qemu}
CONSOLE=$E2E_DIR/console.log
TIMEOUT=${EGRESS_KERNEL_TIMEOUT:-240}
CHECKS=(edged_starts kernel_device backend_kernel genl_get_port genl_set_peers tunnel_snat_ping
	peers_handshake peers_counted runtime_add runtime_add_genl runtime_del runtime_del_genl
	still_tunnels teardown_device)

manifest() {
	local m=$E2E_DIR/etc n
	mkdir -p "$m"
	for n in edge c d; do
		(umask 077 && wg genkey >"$m/$n.key")
		wg pubkey <"$m/$n.key" >"$m/$n.pub"
	done
	cat >"$m/edge.yaml" <<-YAML
		instance: egk
		uplinks: [e0, e1]
		control_socket: /run/edged.sock
		metrics: {listen: off}
		egress:
		  interface: wge
		  backend: auto
		  private_key_file: /etc/edged/edge.key
		  address: [100.64.0.1/10]
		  peers: [{name: carl, public_key: "$(cat "$m/c.pub")", addresses: [100.64.0.2/32]}]
		  snat: [{address: 203.0.113.10}]
	YAML
	echo "init tests/qemu/egress_guest_init.sh"
	echo "file /bin/busybox /bin/busybox 755"
	echo "link /sbin/modprobe /bin/busybox"
	echo "bin $OUT/edged /usr/sbin/edged"
	echo "bin $OUT/edgectl /usr/sbin/edgectl"
	echo "bin /usr/bin/wg"
	echo "bin /usr/bin/ip"
	for n in edge.yaml edge.key edge.pub c.key c.pub d.pub; do
		echo "file $m/$n /etc/edged/$n 600"
	done
	echo "kmods $MODULES"
	echo "module crc32c_generic wireguard veth nf_tables nft_ct nft_nat nft_chain_nat nft_connlimit nft_objref nf_conntrack nf_conntrack_netlink nf_nat sch_ingress cls_bpf"
}

prepare() {
	local err=$E2E_DIR/prepare.err
	if ! KERNEL=$(bash tests/qemu/guest-kernel.sh 2>"$err") ||
		! MODULES=$(bash tests/qemu/guest-kernel.sh --modules 2>>"$err"); then
		fail "guest kernel: Debian's linux-image-6.1.0-*-amd64-unsigned" "$(tail -n 3 "$err")"
		summary
		exit
	fi
	manifest >"$E2E_DIR/manifest"
	if ! INITRD=$(QEMU_CACHE=$QEMU_DIR bash tests/qemu/mkinitramfs.sh -m "$E2E_DIR/manifest" -n egress-guest 2>"$err"); then
		fail "initramfs for the egress guest" "$(tail -n 3 "$err")"
		summary
		exit
	fi
	ok "guest kernel and initramfs (edged, edgectl, wg, ip, wireguard.ko)"
}

stop_guest() {
	[[ -n ${GUEST_PID:-} ]] || return 0
	kill -TERM "$GUEST_PID" 2>/dev/null
	wait "$GUEST_PID" 2>/dev/null
}

boot() {
	on_cleanup stop_guest
	timeout --kill-after=5 "$TIMEOUT" qemu-system-x86_64 \
		-machine pc -accel tcg -cpu qemu64 -smp 1 -m 768 \
		-nodefaults -nographic -serial stdio -nic none -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0 quiet panic=-1" \
		</dev/null >"$CONSOLE" 2>&1 &
	GUEST_PID=$!
	wait "$GUEST_PID"
	GUEST_RC=$?
	GUEST_PID=
	sed -i 's/\r$//' "$CONSOLE"
}

results() {
	local c line
	check "the guest ran to its end within ${TIMEOUT}s (QEMU exit $GUEST_RC)" \
		grep -q '^edged-guest: done$' "$CONSOLE"
	check "the guest runs Debian's 6.1 kernel" grep -q 'edged-guest: uname 6\.1\.' "$CONSOLE"
	for c in "${CHECKS[@]}"; do
		line=$(grep "^edged-guest: check $c " "$CONSOLE" | tail -n 1)
		check "guest: $c (${line#edged-guest: check })" test "$line" = "edged-guest: check $c ok"
	done
	grep -E '^edged-guest: (peers|log):' "$CONSOLE" | sed 's/^/       /'
}

prepare
boot
results
summary
