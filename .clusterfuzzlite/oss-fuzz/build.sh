#!/bin/bash -eu
# projects/unmapfuzz/build.sh in google/oss-fuzz: the project's own build.
exec "$SRC/unmapfuzz/.clusterfuzzlite/build.sh"
