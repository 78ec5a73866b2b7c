#!/usr/bin/env bash
# Builds the page as a self-contained static folder that any static file host serves, under any
# path prefix: OUT/web/ (the page, its service worker, weights, demo scan), OUT/pkg/ (the wasm
# package), OUT/shaders/, and OUT/index.html leading to web/. Every URL the page uses is
# relative, so the folder works wherever it is put. The service worker's BUILD is set to a hash
# of the published files, so a new deploy replaces what browsers kept for offline use.
# Usage: scripts/publish.sh OUT [--no-build]
#   --no-build  packs pkg/ and the demo scan as they are (tests use it: no rebuild under them)
source "$(dirname "$0")/env.sh"
usage="usage: scripts/publish.sh OUT [--no-build]"
out="${1:?$usage}"
build=1
case "${2:-}" in
  "") ;;
  --no-build) build=0 ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$ROOT"
# Only an empty folder or an earlier publish (it has build-id.txt) is replaced.
if [ -n "$(ls -A "$out")" ] && [ ! -f "$out/build-id.txt" ]; then
  echo "publish.sh: $out is not empty and not an earlier publish; give an empty or new folder" >&2
  exit 2
fi

if [ "$build" = 1 ]; then
  bash scripts/setup.sh
  bash scripts/build-web.sh
  bash scripts/demo-data.sh
fi
for f in pkg/sss.js pkg/sss_bg.wasm web/assets/demo/demo.nii.gz; do
  [ -s "$f" ] || { echo "publish.sh: $f is missing (run without --no-build)" >&2; exit 1; }
done

say "publishing to $out"
find "$out" -mindepth 1 -delete
mkdir -p "$out/web/js" "$out/web/assets/weights" "$out/web/assets/demo" "$out/pkg" "$out/shaders"
cp web/index.html web/style.css web/sw.js "$out/web/"
cp web/js/*.js "$out/web/js/"
cp web/assets/weights/*.json web/assets/weights/*.bpk "$out/web/assets/weights/"
cp web/assets/demo/demo.nii.gz "$out/web/assets/demo/"
cp pkg/sss.js pkg/sss_bg.wasm "$out/pkg/"
cp shaders/*.wgsl "$out/shaders/"
cat > "$out/index.html" <<'HTML'
<!doctype html>
<!-- Leads to the page (web/); a static host shows this at the folder's own address. -->
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta http-equiv="Content-Security-Policy" content="default-src 'none'; base-uri 'none'; form-action 'none'">
  <meta http-equiv="refresh" content="0; url=web/">
  <title>SSS</title>
</head>
<body><p><a href="web/">SSS — SAM-2 segmentation in your browser</a></p></body>
</html>
HTML

# The build id: a hash of every published file's path and bytes (the service worker's own line
# aside), so any change gives the service worker a new cache.
id="$(cd "$out" && find . -type f ! -name build-id.txt -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)"
sed -i "s/^const BUILD = 'dev';$/const BUILD = '$id';/" "$out/web/sw.js"
grep -q "^const BUILD = '$id';$" "$out/web/sw.js" \
  || { echo "publish.sh: could not set the build id in web/sw.js" >&2; exit 1; }
echo "$id" > "$out/build-id.txt"
say "$out: build $id, $(du -sh "$out" | cut -f1); serve the folder as it is, open …/web/"
