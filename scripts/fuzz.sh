#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzX in a _test.go file) for a bounded
# time each: make fuzz, and CI through .ci/run. See docs/security-scanning.md.
#
#   FUZZTIME=8s    how long each target fuzzes (a Go duration, or Nx for N runs)
#   FUZZ=regexp    only the targets whose name matches
#
# Each package's test binary is built once, with the fuzzer's
# instrumentation, then run once per target in the package's directory. A
# crasher the fuzzer finds is written to that package's
# testdata/fuzz/FuzzX/ and the script fails: commit the file with the fix,
# and plain `go test` replays it from then on as a regression case. New
# interesting inputs that do not fail stay in the Go cache (go env GOCACHE),
# which is not committed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
only="${FUZZ:-.}"
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
cachedir="$(go env GOCACHE)/fuzz"

start=$SECONDS
total=0
failed=()
# One line per package: the directory, then its targets.
while read -r dir all; do
  targets=()
  for t in $all; do [[ "$t" =~ $only ]] && targets+=("$t"); done
  ((${#targets[@]})) || continue
  bin="$bindir/$(echo "$dir" | tr / _).test"
  go test -c -fuzz=. -o "$bin" "./$dir"
  for t in "${targets[@]}"; do
    total=$((total + 1))
    t0=$SECONDS
    corpus="$dir/testdata/fuzz/$t"
    before="$(ls "$corpus" 2>/dev/null || true)"
    if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$t\$" -test.fuzztime="$fuzztime" \
          -test.fuzzcachedir="$cachedir" >"$bindir/out" 2>&1); then
      printf 'fuzz ok    %-32s %-28s %3ds\n' "$t" "$dir" $((SECONDS - t0))
    elif [ "$(ls "$corpus" 2>/dev/null || true)" = "$before" ] &&
         grep -q '^    context deadline exceeded$' "$bindir/out"; then
      # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
      # failure when a worker is mid-input at that moment (go.dev/issue/75804,
      # fixed in Go 1.27). No input failed and none was written: not a finding.
      printf 'fuzz ok    %-32s %-28s %3ds (ended by the Go 1.26 deadline race, no crasher)\n' "$t" "$dir" $((SECONDS - t0))
    else
      printf 'fuzz FAIL  %-32s %s\n' "$t" "$dir"
      sed 's/^/    /' "$bindir/out"
      # CI's clone is thrown away: print each new crasher, so it can be
      # committed from the log (go test fuzz v1 format, as Go wrote it).
      for f in "$corpus"/*; do
        [ -f "$f" ] && ! grep -qxF "$(basename "$f")" <<<"$before" || continue
        echo "    --- $f:"
        sed 's/^/    /' "$f"
      done
      failed+=("$dir $t")
    fi
  done
done < <(grep -rE --include='*_test.go' --exclude-dir=node_modules -o '^func Fuzz[A-Za-z0-9_]*' . |
  awk -F: '{ d = $1; sub(/\/[^\/]*$/, "", d); sub(/^\.\/?/, "", d); if (d == "") d = "."
             split($2, f, " "); t[d] = t[d] " " f[2] }
           END { for (d in t) print d t[d] }' | sort)

echo "fuzz: $total targets, ${fuzztime} each, $((SECONDS - start))s"
if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} failed; each crasher is in the package's testdata/fuzz/<target>/: commit it with the fix" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
