#!/usr/bin/env bash
# Installs everything pagecast needs on Debian 12: Xvfb, the system Chromium (Playwright never
# downloads a browser), FFmpeg, fonts, then the npm packages, then builds. The Containerfile and the
# Home Assistant add-on install the packages of the first apt-get install below (test/deploy/ checks it).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_node="20.19.0"
if ! command -v node >/dev/null || [ "$(printf '%s\n%s\n' "$need_node" "$(node -p process.versions.node)" | sort -V | head -1)" != "$need_node" ]; then
  echo "pagecast needs Node.js >= $need_node (Debian 12's own nodejs is 18): install Node 24 LTS (or 22, or 20.19+) first" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# python3: the few lines that send systemd's notify datagrams (controller/service/sd-notify.ts), and
# damage-driven capture (machines/media/damage-grab.py: ctypes, which python3-minimal lacks).
$SUDO apt-get install -y -q --no-install-recommends \
  xvfb xauth chromium ffmpeg openssl procps ca-certificates \
  fonts-dejavu-core fonts-liberation fonts-noto-core python3
# For the tests only, so not in the runtime list above: the MQTT tests start their own mosquitto on
# a free loopback port (pagecast itself talks to whatever broker --mqtt names); the coordination
# tests start their own 3-member etcd cluster (etcd-server; pagecast itself talks to the site's
# etcd that --etcd-endpoints names, and the package's own service is not used).
$SUDO apt-get install -y -q --no-install-recommends mosquitto etcd-server

# playwright-core ships no browser and downloads none; the flag guards against a full playwright.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
