#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each, starting from the checked-in
# seed corpora (fuzz/seeds/TARGET) and growing a local corpus (fuzz/corpus/TARGET, not
# committed). Installs cargo-fuzz from crates.io when it is missing. Not part of
# scripts/test.sh: fuzzing takes minutes per target.
#
# Usage: scripts/fuzz.sh [--seconds N] [--sanitizer none|address] [TARGET...]
#   --seconds N      time per target (default 60)
#   --sanitizer S    none (default): works on the stable toolchain; libFuzzer's coverage
#                    guidance without AddressSanitizer, which safe Rust does not need to find
#                    panics, overflows (debug assertions are on), hangs and runaway memory.
#                    address: AddressSanitizer, which needs -Z flags: the nightly toolchain when
#                    one is installed, else stable with RUSTC_BOOTSTRAP=1.
#   TARGET...        only these targets (default: all, as `cargo fuzz list` gives them)
#
# A crash (panic, timeout over 10 s, more than 1 GiB) stops that target, leaves the input in
# fuzz/artifacts/TARGET/ and makes the script exit 1 after the other targets have run;
# reproduce with `cargo fuzz run -s none -a TARGET fuzz/artifacts/TARGET/crash-…`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

seconds=60
sanitizer=none
targets=()
while (($#)); do
    case "$1" in
        --seconds)
            seconds="${2:?--seconds needs a number}"
            shift 2
            ;;
        --sanitizer)
            sanitizer="${2:?--sanitizer needs none or address}"
            shift 2
            ;;
        -h | --help)
            sed -n '2,19p' "$0"
            exit 0
            ;;
        -*)
            echo "unknown option $1 (see --help)" >&2
            exit 2
            ;;
        *)
            targets+=("$1")
            shift
            ;;
    esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
    echo "--seconds must be a positive whole number" >&2
    exit 2
fi

if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz builds with sanitizer coverage (stable codegen options); only a sanitizer needs
# -Zsanitizer, i.e. nightly or RUSTC_BOOTSTRAP=1 on stable.
cargo_fuzz=(cargo fuzz)
case "$sanitizer" in
    none) ;;
    address)
        if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
            cargo_fuzz=(cargo +nightly fuzz)
        else
            log "no nightly toolchain: building with RUSTC_BOOTSTRAP=1 on stable for -Zsanitizer"
            export RUSTC_BOOTSTRAP=1
        fi
        ;;
    *)
        echo "--sanitizer must be none or address" >&2
        exit 2
        ;;
esac
# -a: debug assertions (integer overflow checks) on, as in the tests.
flags=(-s "$sanitizer" -a)

if ((${#targets[@]} == 0)); then
    mapfile -t targets < <("${cargo_fuzz[@]}" list)
fi

log "building ${#targets[@]} targets (sanitizer $sanitizer; the first build takes minutes)"
"${cargo_fuzz[@]}" build "${flags[@]}"

results=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log "fuzzing $t for ${seconds}s"
    out="$(mktemp)"
    rc=0
    # The first corpus folder collects what the run finds; the seeds are only read.
    "${cargo_fuzz[@]}" run "${flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        >"$out" 2>&1 || rc=$?
    grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+== ERROR|thread .* panicked|SUMMARY|Test unit written|artifact_prefix)' \
        "$out" >&2 || true
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)"
    corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
    if ((rc == 0)); then
        status=ok
    else
        status="CRASH (exit $rc; see fuzz/artifacts/$t/)"
        failed=1
        mkdir -p "fuzz/artifacts/$t"
        cp "$out" "fuzz/artifacts/$t/run.log"
    fi
    results+=("$(printf '%-16s %6ss %12s execs %6s corpus  %s' "$t" "$seconds" "${execs:-?}" "$corpus" "$status")")
    rm -f "$out"
done

log "results"
printf '%s\n' "${results[@]}"
exit "$failed"
