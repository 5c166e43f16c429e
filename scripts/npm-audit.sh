#!/usr/bin/env bash
# npm audit of the console's runtime dependencies (what ships in ui/dist):
# fails on any advisory of high or critical severity. See
# docs/security-scanning.md.
#
# It needs the registry's advisory service. When the registry cannot be
# reached at all, the audit fails, saying so. When the registry answers but
# refuses the audit request itself (an HTTP error from the advisory
# endpoint, as a registry mirror that serves only package downloads does),
# NPM_AUDIT_REFUSED decides: "fail" (the default) or "warn" (print that no
# audit took place, loudly, and go on).
set -euo pipefail
cd "$(dirname "$0")/../ui"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if npm audit --omit=dev --audit-level=high >"$out" 2>&1; then
  cat "$out"
  echo "npm audit: no high or critical advisory in the console's runtime dependencies"
  exit 0
fi
cat "$out"
# A finding: npm printed its report (severity lines) rather than an error.
if grep -qE '^# npm audit report|severity vulnerabilit' "$out"; then
  echo "npm audit: advisories of high or critical severity (above): update the package, or see docs/security-scanning.md" >&2
  exit 1
fi
if grep -qE 'E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT)|network request to .* failed' "$out"; then
  echo "npm audit: FAILED: the npm registry cannot be reached, so the dependencies were not audited" >&2
  exit 1
fi
if grep -qE 'audit endpoint returned an error|E4[0-9][0-9]|E5[0-9][0-9]' "$out"; then
  msg="the registry refused the audit request (its advisory endpoint answered with an HTTP error), so the dependencies were NOT audited"
  if [ "${NPM_AUDIT_REFUSED:-fail}" = warn ]; then
    echo "npm audit: WARNING: $msg (NPM_AUDIT_REFUSED=warn)"
    exit 0
  fi
  echo "npm audit: FAILED: $msg" >&2
  exit 1
fi
echo "npm audit: FAILED (above)" >&2
exit 1
