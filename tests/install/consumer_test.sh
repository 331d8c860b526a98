#!/bin/sh
# Installs a built tree into a scratch prefix, then builds the library example
# outside the tree twice, as a user would, and runs each build:
#   1. CMake:      find_package(Quiver) from examples/find_package/CMakeLists.txt
#   2. pkg-config: c++ -std=c++20 quickstart.cc $(pkg-config --cflags --libs quiver)
# Also checks that the installed `quiver` runs and that --strip dropped its debug info.
#   tests/install/consumer_test.sh BUILD_DIR CONSUMER_SOURCE_DIR
# Exit status 0 when every step passed.
set -eu
build=$(cd "$1" && pwd)
consumer=$(cd "$2" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

echo "== cmake --install $build --prefix $prefix --strip"
cmake --install "$build" --prefix "$prefix" --strip >"$scratch/install.log"
for f in bin/quiver include/quiver/quiver.h lib/libquiver_store.a lib/libquiver_util.a lib/libnumkong.a \
  lib/cmake/Quiver/QuiverConfig.cmake lib/pkgconfig/quiver.pc; do
  test -e "$prefix/$f" || { echo "missing after install: $f"; exit 1; }
done
"$prefix/bin/quiver" --version
if readelf -S "$prefix/bin/quiver" | grep -q '\.debug_info'; then
  echo "bin/quiver still has debug info after --strip"
  exit 1
fi
echo "bin/quiver: $(du -h "$prefix/bin/quiver" | cut -f1)"

echo "== find_package(Quiver)"
cmake -S "$consumer" -B "$scratch/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$scratch/configure.log" || { cat "$scratch/configure.log"; exit 1; }
cmake --build "$scratch/cmake-build" >"$scratch/build.log" || { cat "$scratch/build.log"; exit 1; }
"$scratch/cmake-build/quickstart" "$scratch/store1" 2>/dev/null | tee "$scratch/out1"
grep -q '^key=1 distance=0\.0[0-9]* text=red apple' "$scratch/out1"

echo "== pkg-config quiver"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs quiver)
echo "flags: $flags"
# shellcheck disable=SC2086 # $flags is a list of words
c++ -std=c++20 -O1 -o "$scratch/quickstart-pc" "$consumer/../quickstart.cc" $flags
"$scratch/quickstart-pc" "$scratch/store2" 2>/dev/null | tee "$scratch/out2"
cmp "$scratch/out1" "$scratch/out2"
echo "install_consumer: ok"
