#!/bin/sh
# prebuildify runs this in place of node-gyp ("rebuild --target=<node> --release ..."). The addon
# is Node-API, so the target version is irrelevant: an incremental cmake-js build in build/ is all
# it needs, and ctest keeps working on the same build tree.
set -e
cd "$(dirname "$0")/.."
exec cmake-js compile --out build
