#!/usr/bin/env bash
# Installs the system packages the test suite needs when they are missing.
# The kernel (master, agent, CLI) needs nothing beyond Node >= 20; later
# features (etcd, runc, haproxy, chromium) add their Debian packages here.
set -euo pipefail

need_node_major=20
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt "$need_node_major" ]; then
  echo "corral needs Node.js >= $need_node_major (found: $(node --version 2>/dev/null || echo none)); install the Debian package 'nodejs' from a recent source" >&2
  exit 1
fi

# Debian packages the suite needs: "binary:package".
required=(
  ip:iproute2
  etcd:etcd-server
  etcdctl:etcd-client
  nft:nftables
  runc:runc
  umoci:umoci
  skopeo:skopeo
  docker-registry:docker-registry
  busybox:busybox-static
  promtool:prometheus
)

missing=()
for entry in "${required[@]}"; do
  bin=${entry%%:*}
  pkg=${entry##*:}
  command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} — run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
echo "install-deps: ok"
