#!/usr/bin/env bash
# Build a local stand-in for python:3.11-slim without pulling anything: debootstrap Debian bookworm (its
# python3 is 3.11), import it into Docker, and trust the host's CA bundle so pip works inside builds.
# The project's Dockerfiles take it through `--build-arg BASE_IMAGE=...`. Only tests need this; users build
# on the real python:3.11-slim. Cached: the rootfs tarball under .state/cache, the image by its tag.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${1:-mlops-test-base:bookworm}"
CACHE_DIR=.state/cache
TARBALL="$CACHE_DIR/bookworm-python-rootfs.tar"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE present"
    exit 0
fi

if [ ! -s "$TARBALL" ]; then
    echo "==> debootstrap bookworm (minbase + python3) into a temporary rootfs"
    started=$SECONDS
    rootfs="$(mktemp -d)"
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase \
        --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
        bookworm "$rootfs" "$MIRROR" >"$CACHE_DIR.debootstrap.log" 2>&1 || {
        tail -20 "$CACHE_DIR.debootstrap.log" >&2
        exit 1
    }
    # Like the official image: pip may install into the system interpreter (PEP 668 marker removed),
    # and no apt lists or caches.
    rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    cp "$CA_BUNDLE" "$rootfs/usr/local/share/host-ca-bundle.crt"
    mkdir -p "$CACHE_DIR"
    tar -C "$rootfs" -cf "$TARBALL" .
    echo "    rootfs ready in $((SECONDS - started))s"
fi

echo "==> docker import $IMAGE"
docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV PIP_CERT=/usr/local/share/host-ca-bundle.crt' \
    -c 'ENV SSL_CERT_FILE=/usr/local/share/host-ca-bundle.crt' \
    -c 'ENV REQUESTS_CA_BUNDLE=/usr/local/share/host-ca-bundle.crt' \
    -c 'CMD ["python3"]' \
    "$TARBALL" "$IMAGE" >/dev/null
docker image ls "$IMAGE"
