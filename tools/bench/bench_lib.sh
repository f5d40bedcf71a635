# Shell helpers for the benchmark drivers in tools/bench/chNN/run.
# Source it; it needs no arguments.

# median: reads numbers, one per line; prints their median.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]
        else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}

# Where results go: docs/bench/ at the top of the repository.
bench_results_dir() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/docs/bench"
    mkdir -p "$dir"
    echo "$dir"
}
