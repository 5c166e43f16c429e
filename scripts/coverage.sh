#!/usr/bin/env bash
# Prints the Go statement coverage (every package, the end-to-end suites
# included: the profile `make test` writes with -coverpkg=./...) and the
# console's line coverage (Vitest's summary), and fails when either is below
# its floor in .ci/coverage-floor. See docs/security-scanning.md.
#
#   scripts/coverage.sh           check (CI, make test)
#   scripts/coverage.sh --raise   also write the measured figures, rounded
#                                 down, as the new floors (never lower ones)
#
# Floors only ever rise: the check also fails when a floor in the file is
# below the highest value that floor ever had in the git history.
set -euo pipefail
cd "$(dirname "$0")/.."

floors=.ci/coverage-floor
go_profile="${GO_COVER_PROFILE:-bin/cover.out}"
ui_summary="${UI_COVER_SUMMARY:-ui/coverage/coverage-summary.json}"

floor() { awk -v k="$1" '$1 == k { print $2 }' "$floors"; }

# The highest value a floor ever had in a committed version of the file.
highest() {
  git log --format=%H -- "$floors" 2>/dev/null | while read -r c; do
    git show "$c:$floors" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'
  done | sort -n | tail -n1
}

fail=0
check() { # name measured
  local name=$1 got=$2 min high
  min="$(floor "$name")"
  high="$(highest "$name")"
  if [ -z "$min" ]; then
    echo "coverage: no $name floor in $floors" >&2
    fail=1
    return
  fi
  if [ -n "$high" ] && awk -v a="$min" -v b="$high" 'BEGIN { exit !(a < b) }'; then
    echo "coverage: the $name floor in $floors is $min, below the $high it once had: floors only rise" >&2
    fail=1
  fi
  if awk -v a="$got" -v b="$min" 'BEGIN { exit !(a < b) }'; then
    echo "coverage: $name $got% is below its floor of $min%" >&2
    fail=1
  elif awk -v a="$got" -v b="$min" 'BEGIN { exit !(int(a) > b) }'; then
    echo "coverage: $name $got% is above its floor of $min%: raise it with scripts/coverage.sh --raise"
  fi
}

raise() { # name measured
  local new
  new="$(awk -v a="$2" 'BEGIN { print int(a) }')"
  if awk -v a="$new" -v b="$(floor "$1")" 'BEGIN { exit !(a > b) }'; then
    sed -i -E "s/^($1[[:space:]]+)[0-9.]+/\1$new/" "$floors"
    echo "coverage: $1 floor raised to $new%"
  fi
}

[ -f "$go_profile" ] || { echo "coverage: no Go profile at $go_profile (run make test)" >&2; exit 1; }
[ -f "$ui_summary" ] || { echo "coverage: no console summary at $ui_summary (run make test-ui)" >&2; exit 1; }

# The total as go tool cover -func computes it (a block counts once, covered
# if any test binary ran it), read from the profile alone: no package needs
# resolving, and ui/node_modules (whose npm packages may ship Go files) is
# left out whatever state it is in.
go_pct="$(awk -F'[ ]' 'NR > 1 && $1 !~ /\/node_modules\// {
    n[$1] = $2; if ($3 > 0) hit[$1] = 1
  }
  END { for (b in n) { all += n[b]; if (b in hit) cov += n[b] }
        printf "%.1f\n", all ? 100 * cov / all : 0 }' "$go_profile")"
ui_pct="$(node -e 'console.log(require(process.argv[1]).total.lines.pct)' "$(pwd)/$ui_summary")"
echo "coverage: Go statements $go_pct% (floor $(floor go)%), console lines $ui_pct% (floor $(floor ui)%)"

if [ "${1:-}" = --raise ]; then
  raise go "$go_pct"
  raise ui "$ui_pct"
fi
check go "$go_pct"
check ui "$ui_pct"
exit "$fail"
