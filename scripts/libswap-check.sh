#!/usr/bin/env bash
# One binary, two libraries (issue 31): the test binaries of a quick subset
# of packages are built once, then run with the C++ library built against
# Debian's libtorch in /usr (lib/, make setup) and with one built against
# the libtorch inside python3-torch's folder; the tests' results (every
# test's and subtest's PASS/FAIL/SKIP line) and their whole verbose output
# (every value they log) must be identical, apart from timings and
# temporary folders (compared as sorted lines: parallel subtests log in
# any order).
#
#   scripts/libswap-check.sh OUT        (make libswap-check)
#
# The second library is a full C++ build (many minutes on two cores),
# cached in OUT/lib-python.
set -euo pipefail
out="${1:?usage: scripts/libswap-check.sh OUT}"
cd "$(dirname "$0")/.."
mkdir -p "$out/bin"
out="$(cd "$out" && pwd)"
export OMP_NUM_THREADS=1
pkgs=(./libtorch ./autodropout ./nn ./gpucheck)
python="${PYTHON:-/usr/bin/python3}"
pytorch="$("$python" -c 'import torch,os;print(os.path.dirname(torch.__file__))')"

echo "libswap: the command and test binaries, built once"
go build -o "$out/bin/autodropout" ./cmd/autodropout
for p in "${pkgs[@]}"; do
	go test -c -o "$out/bin/$(basename "$p").test" "$p"
done
echo "libswap: the library against $pytorch (cached in $out/lib-python)"
GOWORK=off go run ./internal/cmd/gotchsetup -export-src "$out/torchsrc" >/dev/null
LIBTORCH="$pytorch" GOWORK=off go run ./internal/cmd/gotchsetup -lib-only -src "$out/torchsrc" -lib "$out/lib-python"

run_all() { # LIBRARY NAME
	for p in "${pkgs[@]}"; do
		local n
		n="$(basename "$p")"
		(cd "$p" && AUTODROPOUT_TORCH_LIB="$1" "$out/bin/$n.test" -test.short -test.count=1 -test.v >"$out/$2-$n.log" 2>&1) || true
		sed -E 's#/tmp/[A-Za-z0-9_]+/[0-9]+#TMP#g; s/ ?\([0-9.]+s\)//; s/[0-9.]+s$//' "$out/$2-$n.log" >"$out/$2-$n.txt"
	done
}
run_all "$PWD/lib/libautodropout_torch.so" usr
run_all "$out/lib-python/libautodropout_torch.so" python
status=0
for p in "${pkgs[@]}"; do
	n="$(basename "$p")"
	pass="$(grep -c -- '--- PASS' "$out/usr-$n.txt" || true)"
	fail="$(grep -c -- '--- FAIL' "$out/usr-$n.txt" || true)"
	# Sorted: parallel subtests log in any order.
	if diff -q <(sort "$out/usr-$n.txt") <(sort "$out/python-$n.txt") >/dev/null; then
		echo "libswap: $n: identical ($pass passed, $fail failed)"
	else
		echo "libswap: $n: DIFFERENT (diff $out/usr-$n.txt $out/python-$n.txt)"
		status=1
	fi
done
for l in "$PWD/lib/libautodropout_torch.so" "$out/lib-python/libautodropout_torch.so"; do
	echo "libswap: $(AUTODROPOUT_TORCH_LIB="$l" "$out/bin/autodropout" version 2>&1 | grep -E '^(library|libtorch)' | tr -s ' ' | paste -sd ';')"
done
exit $status
