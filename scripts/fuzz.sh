#!/usr/bin/env bash
# Runs every native fuzz target in the module for a bounded time each.
set -euo pipefail
fuzztime=${1:-10s}
status=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
    echo "fuzz $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then status=1; fi
  done
done < <(git ls-files '*_test.go' | xargs grep -l 'testing\.F)' 2>/dev/null || true)
exit $status
