#!/usr/bin/env bash
# Whole-process speed and memory on one 100 MB log batch: `interven-gateway
# scan` (release build) against Kingfisher (PyPI kingfisher-bin), on the same
# generated file, in the same run. Prints both rates (MB/s, start-up
# included) and both peak RSS figures (/usr/bin/time -v), and the ratios the
# issue asks for: interven at least 2 x Kingfisher's rate, peak RSS at most
# 4 x the body. Also times interven on the 1 MB batch (same records) to show
# the cost is linear.
#
# The file is one JSON Lines scan request whose body is {"records": [...]}:
# RECORDS log records of about 500 bytes (default 200,000: 103 MB), one in
# 5,000 with an e-mail address and one in 50,000 with a cloud access key.
# Kingfisher scans the same file, without validation, update checks or
# network (its own network namespace when `unshare` allows).
#
# Each program runs once first, uncounted (page cache), then RUNS rounds
# (default 3) interleave the two; the figures are medians.
#
# The machine is shared: run when `uptime` shows the lowest load, and read
# ratios, not absolute figures.
#
#   scripts/bench-vs-kingfisher.sh
#   RECORDS=20000 scripts/bench-vs-kingfisher.sh     # a 10 MB file
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS="${RECORDS:-200000}"
RUNS="${RUNS:-3}"
KF_VERSION="${KF_VERSION:-2.14.0}"
VENV="${KF_VENV:-${TMPDIR:-/tmp}/interven-kingfisher-venv}"
WORK="${WORK:-${TMPDIR:-/tmp}/interven-bench-vs-kingfisher}"
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/kingfisher" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "kingfisher-bin==$KF_VERSION"
fi
cargo build --release --locked -p interven-gateway >/dev/null
BIN="$TARGET/release/interven-gateway"

big="$WORK/log-batch-$RECORDS.jsonl"
small="$WORK/log-batch-2000.jsonl"
[ -s "$big" ] || python3 scripts/gen_log_batch.py "$big" "$RECORDS"
[ -s "$small" ] || python3 scripts/gen_log_batch.py "$small" 2000

# run NAME FILE CMD...: whole process under /usr/bin/time -v; prints "NAME bytes seconds max_rss_kb".
run() {
  local name="$1" file="$2"
  shift 2
  /usr/bin/time -v "$@" <"$file" >"$WORK/$name.out" 2>"$WORK/$name.time" || true
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
  echo "$name $(stat -c %s "$file") $secs $rss"
}

kf=("$VENV/bin/kingfisher" scan "$big" --no-validate --no-update-check --format json --output "$WORK/kingfisher.json")
if unshare -rn true 2>/dev/null; then kf=(unshare -rn "${kf[@]}"); fi

echo "load before: $(uptime)"
# One run of each first, not counted: the file and both programs in the page
# cache (a cold first Kingfisher run took 8 s against 1.8 s warm).
run warmup_interven "$big" "$BIN" scan >/dev/null
run warmup_kingfisher /dev/null "${kf[@]}" >/dev/null
: >"$WORK/results.txt"
for i in $(seq 1 "$RUNS"); do
  {
    run interven_1MB "$small" "$BIN" scan
    run interven_big "$big" "$BIN" scan
    run kingfisher_big /dev/null "${kf[@]}"
  } | tee -a "$WORK/results.txt"
done
echo "load after: $(uptime)"
head -c 300 "$WORK/interven_big.out"; echo

python3 - "$WORK/results.txt" "$(stat -c %s "$big")" "$(stat -c %s "$small")" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, _size, secs, rss = line.split()
    runs.setdefault(name, []).append((float(secs), int(rss) * 1024))
body, small = int(sys.argv[2]), int(sys.argv[3])
size = lambda n: small if n == "interven_1MB" else body
print(f"median of {len(runs['interven_big'])} runs, interleaved:")
med = {}
for n, rs in runs.items():
    secs = statistics.median(r[0] for r in rs)
    rss = max(r[1] for r in rs)
    med[n] = (size(n) / 1e6 / secs, rss)
    spread = ", ".join(f"{r[0]:.2f}" for r in rs)
    print(f"{n:18} {med[n][0]:8.1f} MB/s  median {secs:6.2f} s ({spread})  peak RSS {rss / 2**20:8.1f} MiB ({rss / size(n):.2f} x the body)")
i, k = med["interven_big"][0], med["kingfisher_big"][0]
print(f"interven / kingfisher rate: {i / k:.2f} x (goal >= 2)")
print(f"interven peak RSS / body: {med['interven_big'][1] / body:.2f} x (goal <= 4)")
print(f"interven MB/s on the big file vs 1 MB: {i / med['interven_1MB'][0]:.2f} (goal >= 0.8; 1 MB includes start-up)")
PY
