#!/usr/bin/env bash
# Fetch SwiftShader's Vulkan driver (a CPU implementation of Vulkan) from Debian's chromium-common package,
# without installing Chromium, so the webgpu device can be tested on machines with no GPU.
# Result: .vk/{libvk_swiftshader.so,vk_swiftshader_icd.json,libvulkan.so.1}; vitest.config.ts picks it up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .vk/vk_swiftshader_icd.json ]; then echo "swiftshader: already in .vk/"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && (apt-get download chromium-common >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download chromium-common; }) )
deb=$(ls "$tmp"/chromium-common_*.deb)
mkdir -p .vk
dpkg-deb --fsys-tarfile "$deb" | tar -x -C .vk --strip-components=4 \
  ./usr/lib/chromium/libvk_swiftshader.so ./usr/lib/chromium/vk_swiftshader_icd.json ./usr/lib/chromium/libvulkan.so.1
echo "swiftshader: installed into .vk/ ($(du -sh .vk | cut -f1))"
