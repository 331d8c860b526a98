#!/bin/sh
# Compiles a one-line probe `#include "<header>"` with a target's include
# directories and checks the outcome: the layers of src/ may include only the
# layers below them, and the CLI and the server only include/quiver (see
# docs/architecture.md, "Layers"). Run by CTest (tests/CMakeLists.txt), one
# test per probe.
#   layer_check.sh COMPILER allowed|forbidden HEADER -I... -I...
# Exits 0 when an allowed header compiles or a forbidden one is not found.
set -eu
compiler=$1 expect=$2 header=$3
shift 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '#include "%s"\n' "$header" >"$scratch/probe.cc"
if "$compiler" -std=c++20 -fsyntax-only "$@" "$scratch/probe.cc" >"$scratch/out" 2>&1; then
  outcome=compiles
elif grep -q "No such file or directory" "$scratch/out"; then
  outcome="is not found"
else
  echo "probe for $header failed for another reason:"; cat "$scratch/out"; exit 1
fi
echo "#include \"$header\" $outcome"
case "$expect:$outcome" in
  allowed:compiles | "forbidden:is not found") exit 0 ;;
  *) echo "expected it to be $expect"; exit 1 ;;
esac
