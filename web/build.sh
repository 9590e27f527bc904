#!/usr/bin/env bash
# Builds the browser demo and its tests into a static folder (default
# target/web): the WebAssembly module and its JS bindings, the pages, the
# LeNet-5 checkpoint, and native.json (the native run the browser tests
# compare against). Serve it with: python3 -m http.server -d target/web
#
# Needs: rustup target add wasm32-unknown-unknown, and the wasm-bindgen
# command at the wasm-bindgen crate's exact version:
#   cargo install wasm-bindgen-cli --version "$(web/build.sh --wasm-bindgen-version)"
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "${1:-}" = "--wasm-bindgen-version" ]; then
  echo "$want"
  exit 0
fi
out=${1:-target/web}

have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "error: wasm-bindgen $want is needed (found: ${have:-none});" \
    "install it with: cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

cargo build --release -p weft-web --target wasm32-unknown-unknown
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  target/wasm32-unknown-unknown/release/weft_web.wasm
cp web/index.html web/demo.js web/style.css web/tests.html web/tests.js \
  web/lenet5.safetensors docs/images/digit-7.png "$out/"
cp fuzz/corpus/onnx/test_Conv2d.onnx "$out/conv2d.onnx"
cargo run --release -q -p weft-web --example native_reference -- \
  web/lenet5.safetensors "$out/native.json" 64 fuzz/corpus/onnx/test_Conv2d.onnx
echo "built $out ($(du -sh "$out/pkg" | cut -f1) of WebAssembly and bindings);" \
  "serve it with: python3 -m http.server -d $out"
