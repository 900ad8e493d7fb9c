#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Drop rate of edged in a QEMU guest (TCG, Debian's 6.1 kernel) under a flood, by NIC driver
# and XDP mode, measured in one guest in one run; and the guest's boot-to-ready time.
#
#   lab-<id>-r1 (namespace)                       edge1 (QEMU guest, lab topology single-edge-qemu)
#   +------------------------+   tap "edge1"      +--------------------------------------------+
#   | flood_gen: live frames |--- virtio-net ---->| r1:   edged XDP, dos block 198.51.100.64/26 |
#   | 198.51.100.66 -> VIP   |   tap "edge1-2"    |                                            |
#   |                        |--- e1000 --------->| r1-2: edged XDP (generic: e1000 has no     |
#   +------------------------+                    |       native XDP)                          |
#                                                 +--------------------------------------------+
# flood_gen XDP_TXes 60-byte frames into a tap far faster than the guest takes them (about
# 4 Mpps against tens of thousands), so the tap's queue stays full and the guest receives as
# fast as its NIC emulation and kernel let it: edged's dos drop counter of that uplink, sampled
# during the flood (after a second of ramp-up), is the drop rate. Three configurations:
#   virtio-net, native XDP   (edged's default there)
#   virtio-net, generic XDP  (same NIC, the skb path: the XDP mode alone)
#   e1000, generic XDP       (the only mode e1000 has)
# Under TCG every figure is bounded by device emulation, not by edged: they compare the paths
# on this machine, and say nothing of the rates of real hardware.
#
# BENCH lines: qemu_drop_virtio_native_vs_generic, qemu_drop_virtio_native_vs_e1000 (pps) and
# qemu_guest_boot_to_ready (seconds; the peer is the guest kernel's own part, firmware and
# kernel to /init, so the ratio is what the lab's init, modules, 9p and agent add).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

OUT=${OUT:-build}
REPS=${QEMU_DROP_REPS:-3}
WINDOW=${QEMU_DROP_WINDOW:-3}
GEN=$OUT/tests/bench/flood_gen

if [[ $(id -u) -ne 0 ]]; then
	echo "qemu_drop: needs root (namespaces, QEMU taps); skipped"
	exit 0
fi
[[ -x $GEN ]] || {
	echo "qemu_drop: $GEN missing (make bench builds it)"
	exit 1
}

# The lab does the bring-up (guest boot, taps, BGP) and the teardown, also on Ctrl-C.
GEN=$GEN REPS=$REPS WINDOW=$WINDOW timeout --kill-after=30 900 /usr/bin/python3 - <<'PY'
import os, re, signal, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "lab")
from lablib import cli, netns, qemu, runtime, topology
from lablib.report import Progress

GEN, REPS, WINDOW = os.environ["GEN"], int(os.environ["REPS"]), float(os.environ["WINDOW"])
FLOOD_SRC, FLOOD_DST = "198.51.100.66", "203.0.113.10"
CONFIGS = {  # name -> (xdp_mode of r1 (virtio-net), xdp_mode of r1-2 (e1000))
    "native": ("native", "generic"),
    "generic": ("generic", "generic"),
}
TEMPLATE = """uplinks:
  - {name: r1, xdp_mode: %s}
  - {name: r1-2, xdp_mode: %s}
metrics: {listen: "off"}
log_level: info
dos:
  block: [198.51.100.64/26]
"""


def drops(lab, uplink):
    doc = lab.edge_stats("edge1")
    for u in doc["uplinks"]:
        if u["iface"] == uplink:
            return u["counters"]["dos"]["drop"]["packets"]
    raise SystemExit(f"qemu_drop: no uplink {uplink} in edgectl stats")


def flood_rate(lab, tap, uplink):
    """pps dropped by edged on UPLINK while the flood into TAP runs (sampled after 1 s)."""
    argv = netns.exec_argv(lab.st.ns("r1"), [GEN, tap, "400000000", FLOOD_SRC, FLOOD_DST])
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        c1, t1 = drops(lab, uplink), time.monotonic()
        time.sleep(WINDOW)
        c2, t2 = drops(lab, uplink), time.monotonic()
        if p.poll() is not None:
            raise SystemExit(f"qemu_drop: flood_gen ended early: {p.stderr.read().decode()[-300:]}")
    finally:
        p.terminate()
        p.wait(timeout=10)
    time.sleep(0.5)  # the guest drains its queues before the next round
    return (c2 - c1) / (t2 - t1)


def main():
    topo = topology.load("single-edge-qemu")
    progress = Progress()
    lab = runtime.Lab.create(topo, progress)
    rates = {}
    try:
        lab.up()
        ready = lab.st.data["guests"]["edge1"]["ready"]
        with open(lab.st.file("edge1.console.log"), errors="replace") as f:
            m = re.search(r"lab-guest: init ([0-9.]+)", f.read())
        kernel = float(m.group(1)) if m else float("nan")
        for name, modes in CONFIGS.items():
            path = lab.st.file(f"bench-{name}.yaml")
            with open(path, "w") as f:
                f.write(TEMPLATE % modes)
            lab.stop_edged("edge1")
            lab.start_edged("edge1", path)
            pairs = [("virtio", "edge1", "r1", modes[0])]
            if name == "native":
                pairs.append(("e1000", "edge1-2", "r1-2", modes[1]))
            for nic, tap, uplink, mode in pairs:
                got = [flood_rate(lab, tap, uplink) for _ in range(REPS)]
                rates[(nic, mode)] = statistics.median(got)
                ups = qemu.uplinks(lab.st, "edge1", [uplink])[0]
                print(f"qemu_drop: {nic:<6} {mode:<7} ({ups['driver']}, kernel says {ups['xdp']}): "
                      f"{' '.join('%.0f' % r for r in got)} pps -> median {rates[(nic, mode)]:.0f}", flush=True)
    finally:
        lab.down()
    vn, vg, eg = rates[("virtio", "native")], rates[("virtio", "generic")], rates[("e1000", "generic")]
    print(f"BENCH qemu_drop_virtio_native_vs_generic pps edged={vn:.0f} generic={vg:.0f} ratio={vn / vg:.2f}")
    print(f"BENCH qemu_drop_virtio_native_vs_e1000 pps edged={vn:.0f} e1000_generic={eg:.0f} ratio={vn / eg:.2f}")
    print(f"BENCH qemu_guest_boot_to_ready seconds edged={ready:.1f} kernel_to_init={kernel:.1f} "
          f"ratio={ready / kernel:.2f}")


cli.trap_signals()  # SIGINT, SIGTERM (timeout) and SIGHUP unwind: the lab is torn down
try:
    main()
except cli.Interrupted:
    sys.exit(130)
PY
