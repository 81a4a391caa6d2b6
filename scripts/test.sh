#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs what is missing, then
# typecheck, lint, unit tests, and integration tests against the real peers (an OpenAFS cell in its
# own network namespace, InspIRCd + Atheme on loopback), which the integration tests start and stop.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n== %s\n' "$*"; }

step "set-up"
scripts/setup.sh

step "typecheck (tsc --noEmit)"
npx --no-install tsc --noEmit -p .

step "lint and format (biome check)"
npx --no-install biome check .

step "unit and integration tests (vitest)"
mkdir -p .state
started=$(date +%s)
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=.state/vitest-results.json || status=$?
elapsed=$(( $(date +%s) - started ))

# One plain summary line, whatever the reporter printed above.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".state/vitest-results.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  if (r.numTotalTests === 0) process.exit(1);
' || status=1
echo "suite wall time: ${elapsed} s"
exit $status
