#!/usr/bin/env bash
# Runs every native fuzz target in the module for a bounded time each.
#
# Usage: fuzz.sh [FUZZTIME] (default 10s). The target whose package has
# the most dependencies runs first, alone: fuzzing builds every dependency
# with coverage instrumentation, and two builds at once would compile the
# shared ones twice. Then FUZZJOBS targets run at once (default: the
# number of CPUs), each with one fuzz worker, so that the CPUs stay busy
# fuzzing while another target compiles, links or gathers its baseline.
#
# A new interesting input is shrunk for at most 2 s (Go's default is 60 s,
# which leaves targets that write files on every run, as the upload and
# checkpoint ones do, next to no time to fuzz in a short run).
#
# A target fails when the fuzzer finds a failing input (it writes it under
# testdata/fuzz/<target>/) or the run fails for any other reason. One case
# is not a failure: Go 1.26's fuzz coordinator can end a run that found
# nothing with "context deadline exceeded" when -fuzztime runs out while a
# worker is busy (golang/go#75804, fixed in Go 1.27). Such a run writes no
# input and says so; it is reported and passed over.
set -euo pipefail
fuzztime=${1:-10s}
jobs=${FUZZJOBS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fuzz_one runs one target and prints its whole log at once when it ends;
# a failure leaves a file in $work/failed.
fuzz_one() {
  local dir=$1 target=$2 pkg=./$1 log="$work/$2.$BASHPID.log"
  local corpus="$dir/testdata/fuzz/$target" before after verdict=""
  before=$(ls "$corpus" 2>/dev/null | sort || true)
  if ! go test -trimpath -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s -parallel 1 "$pkg" >"$log" 2>&1; then
    after=$(ls "$corpus" 2>/dev/null | sort || true)
    if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
      verdict="fuzz $pkg $target: the run ended on the fuzz coordinator's deadline race (golang/go#75804) with no failing input; not a failure"
    else
      verdict="fuzz $pkg $target: FAILED"
      mkdir -p "$work/failed" && touch "$work/failed/$target"
    fi
  fi
  (
    flock 9
    echo "fuzz $pkg $target ($fuzztime)"
    cat "$log"
    [ -z "$verdict" ] || echo "$verdict"
  ) 9>"$work/print.lock"
}

targets=()
while IFS= read -r file; do
  for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
    targets+=("$(dirname "$file") $target")
  done
done < <(git ls-files '*_test.go' | xargs grep -l 'testing\.F)' 2>/dev/null || true)

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets"
  exit 0
fi

# The target of the package with the most dependencies goes first.
declare -A deps
first=0 most=-1
for i in "${!targets[@]}"; do
  dir=${targets[$i]%% *}
  [ -n "${deps[$dir]:-}" ] || deps[$dir]=$(go list -deps -test "./$dir" 2>/dev/null | wc -l)
  if [ "${deps[$dir]}" -gt "$most" ]; then
    first=$i most=${deps[$dir]}
  fi
done
# shellcheck disable=SC2086 # "dir target": two words
fuzz_one ${targets[$first]}
targets=("${targets[@]:0:$first}" "${targets[@]:$((first + 1))}")

running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  # shellcheck disable=SC2086 # "dir target": two words
  fuzz_one $t &
  running=$((running + 1))
done
wait

if [ -d "$work/failed" ]; then
  echo "fuzz: failing targets: $(ls "$work/failed" | tr '\n' ' ')"
  exit 1
fi
echo "fuzz: $((${#targets[@]} + 1)) targets, $fuzztime each, no failure"
