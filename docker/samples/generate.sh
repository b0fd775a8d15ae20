#!/bin/sh
# Writes the stack's sample logs, dated "now", for weir to read at start:
#
#   sh generate.sh TEMPLATE_DIR OUT_DIR
#
# The templates hold real record layouts (S3 server access log, VPC flow log
# version 2 with its header line, JSON application logs) with @TIME@ /
# @START@ @END@ in place of their times. Each record gets a time in the last
# hour, oldest first, so the dashboards (last 24 hours) show the samples
# whenever the stack comes up. Plain POSIX sh and awk: it runs in the busybox
# one-shot container, and the test suite runs it too before feeding the
# result to weir.
set -eu
src=${1:?template directory}
out=${2:?output directory}
now=$(date -u +%s)

mkdir -p "$out/s3-access" "$out/vpc-flow" "$out/app"

# Times are spread evenly over the hour before `now`, in file order.
stamp() {
  awk -v now="$now" '
    # Days since 1970-01-01 to a civil date (proleptic Gregorian, UTC).
    function civil(days,   z, era, doe, yoe, doy, mp) {
      z = days + 719468
      era = int(z / 146097)
      doe = z - era * 146097
      yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
      Y = yoe + era * 400
      doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
      mp = int((5 * doy + 2) / 153)
      D = doy - int((153 * mp + 2) / 5) + 1
      M = mp < 10 ? mp + 3 : mp - 9
      if (M <= 2) Y++
    }
    function s3time(t,   s) {
      civil(int(t / 86400))
      s = t % 86400
      return sprintf("%02d/%s/%04d:%02d:%02d:%02d +0000", D, MON[M], Y,
                     int(s / 3600), int(s % 3600 / 60), s % 60)
    }
    BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", MON, " ") }
    { lines[NR] = $0 }
    END {
      step = int(3600 / (NR > 0 ? NR : 1))
      for (i = 1; i <= NR; i++) {
        t = now - (NR - i + 1) * step
        line = lines[i]
        gsub(/@TIME@/, s3time(t), line)
        gsub(/@START@/, t - 60, line)
        gsub(/@END@/, t, line)
        print line
      }
    }'
}

stamp < "$src/s3-access.tmpl" > "$out/s3-access/sample.log"
stamp < "$src/vpc-flow.tmpl" > "$out/vpc-flow/sample.log"
# Application logs carry no time: weir stamps them as it reads them.
cp "$src/app.tmpl" "$out/app/sample.ndjson"
echo "samples written to $out"
