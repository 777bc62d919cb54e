#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# Reports KTAP results to LAVA: `ktap-to-lava.sh PREFIX < file.ktap` calls `lava-test-case PREFIX-NAME --result R`
# for each top-level result line (ok -> pass, not ok -> fail, "# SKIP" -> skip; a skipped plan "1..0 # SKIP" ->
# PREFIX skip). `ktap-to-lava.sh --exit PREFIX CODE` reports kselftest's exit code as PREFIX-exit (0 pass, 4 skip,
# else fail). Outside LAVA (no lava-test-case) it prints the calls instead.
report() {
	if command -v lava-test-case >/dev/null 2>&1; then
		lava-test-case "$1" --result "$2"
	else
		echo "lava-test-case $1 --result $2"
	fi
}

if [ "$1" = --exit ]; then
	case "$3" in
	0) report "$2-exit" pass ;;
	4) report "$2-exit" skip ;;
	*) report "$2-exit" fail ;;
	esac
	exit 0
fi

prefix=$1
awk '
	/^1\.\.0 # SKIP/ { print "-", "skip"; next }
	/^ok [0-9]+ / { r = ($0 ~ / # SKIP/) ? "skip" : "pass"; print $3, r; next }
	/^not ok [0-9]+ / { print $4, "fail" }
' | while read -r name result; do
	if [ "$name" = - ]; then
		report "$prefix" "$result"
	else
		report "$prefix-$name" "$result"
	fi
done
