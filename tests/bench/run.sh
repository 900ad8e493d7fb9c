#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: every benchmark binary, then the BENCH lines gathered into one table.
# Benchmarks are not tests: nothing here passes or fails on a figure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for b in "$OUT"/tests/bench/bench_*; do
	[[ -x $b ]] || continue
	echo "== $(basename "$b")"
	"$b" | tee -a "$log" || echo "!! $(basename "$b") failed"
done
# Benchmarks that need a topology (floods between namespaces).
for b in tests/bench/*.sh; do
	[[ $b == tests/bench/run.sh ]] && continue
	echo "== $(basename "$b")"
	OUT=$OUT bash "$b" | tee -a "$log" || echo "!! $(basename "$b") failed"
done

echo
echo "Summary (edged vs peer, measured side by side in this run):"
printf '%-34s %-12s %12s %24s %8s\n' NAME METRIC EDGED PEER RATIO
grep '^BENCH ' "$log" | while read -r _ name metric edged peer ratio; do
	printf '%-34s %-12s %12s %24s %8s\n' "$name" "$metric" "${edged#edged=}" "$peer" "${ratio#ratio=}"
done
