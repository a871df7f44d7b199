#!/usr/bin/env bash
# Regenerates the lists of configuration property names Trino 480 accepts,
# which tests/py/test_compose.py checks every key of compose/trino/ against.
#
#   compose/trino/trino-480-properties/make-lists.sh TRINO_GIT_DIR AIRLIFT_GIT_DIR
#
# TRINO_GIT_DIR: a clone of github.com/trinodb/trino; AIRLIFT_GIT_DIR: a clone of
# github.com/airlift/airlift (Trino 480 builds on airlift 419: <dep.airlift.version>
# in Trino's pom.xml). Nothing is checked out: the names are read from the
# release commits with `git grep`.
#
# A name Trino accepts is the argument of a @Config or @LegacyConfig annotation
# in the main sources of the modules that read that file (@DefunctConfig names
# are refused at start-up, so they are left out):
#   server.txt   config.properties and node.properties: Trino's core/trino-main
#                and lib/ modules, and every airlift module (node, http-server,
#                discovery, log, jmx, ...).
#   iceberg.txt  a catalog with connector.name=iceberg: plugin/trino-iceberg, lib/
#                (file systems, metastores, Parquet/ORC), airlift.
#   tpch.txt     a catalog with connector.name=tpch: plugin/trino-tpch.
# connector.name itself is read by the catalog manager, not a config class;
# node.data-dir by the launcher (bin/launcher), which starts the server in it.
set -euo pipefail
trino=${1:?TRINO_GIT_DIR}
airlift=${2:?AIRLIFT_GIT_DIR}
here=$(cd "$(dirname "$0")" && pwd)

trino_rev=$(git -C "$trino" log --format=%H -1 --grep='^\[maven-release-plugin\] prepare release 480$')
airlift_version=$(git -C "$trino" show "$trino_rev:pom.xml" | sed -n 's:.*<dep.airlift.version>\(.*\)</dep.airlift.version>.*:\1:p')
airlift_rev=$(git -C "$airlift" log --format=%H -1 --grep="^\[maven-release-plugin\] prepare release $airlift_version\$")
[ -n "$trino_rev" ] && [ -n "$airlift_rev" ] || { echo "release commits not found" >&2; exit 1; }

# Names in @Config("...") / @LegacyConfig("...") / @LegacyConfig({"...", "..."})
# of the main (not test) Java sources under the given paths.
names() {
    local dir=$1 rev=$2; shift 2
    git -C "$dir" grep -h -A3 -E '@(Config|LegacyConfig)\(' "$rev" -- "$@" \
        | tr '\n' ' ' | grep -o -E '@(Config|LegacyConfig)\((value *= *)?\{?[^)]*\)' \
        | grep -o -E '"[^"]+"' | tr -d '"'
}
main_sources() { for path in "$@"; do echo ":(glob)$path/**/src/main/java/**/*.java"; done; }

airlift=$(names "$airlift" "$airlift_rev" $(main_sources '*'))
header() { echo "# Trino 480 ($trino_rev), airlift $airlift_version ($airlift_rev): made by make-lists.sh"; }
{ header; { names "$trino" "$trino_rev" $(main_sources core/trino-main 'lib/*'); echo "$airlift"; echo node.data-dir; } | sort -u; } > "$here/server.txt"
{ header; { names "$trino" "$trino_rev" $(main_sources plugin/trino-iceberg 'lib/*'); echo "$airlift"; } | sort -u; } > "$here/iceberg.txt"
{ header; names "$trino" "$trino_rev" $(main_sources plugin/trino-tpch) | sort -u; } > "$here/tpch.txt"
wc -l "$here"/*.txt
