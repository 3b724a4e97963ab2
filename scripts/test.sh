#!/usr/bin/env bash
# `npm test`: the static checks (type check, formatting, lint) side by side, then the test suite.
# Each check's output is held until it ends and printed whole, so the three never interleave; any
# failing check fails the command (the tests then do not run). Arguments go to `vitest run`.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

checks=(typecheck format:check lint)
pids=()
for check in "${checks[@]}"; do
  npm run -s "$check" >"$out/$check.log" 2>&1 &
  pids+=($!)
done

failed=()
for i in "${!checks[@]}"; do
  if wait "${pids[$i]}"; then status=ok; else status=FAILED; failed+=("${checks[$i]}"); fi
  echo "npm run ${checks[$i]}: $status"
  cat "$out/${checks[$i]}.log"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "npm test: failed: ${failed[*]}" >&2
  exit 1
fi

exec node_modules/.bin/vitest run "$@"
