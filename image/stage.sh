#!/bin/bash
# Stages the image context for image/Containerfile: stage.sh BINARY CONTEXT_DIR.
# Only what the binary loads (ldd) is copied, and only libraries from the allowed list: a new
# dependency fails the build instead of growing the image unnoticed.
set -euo pipefail
binary=$1 context=$2
rm -rf "$context"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc/ssl/certs" "$context/rootfs/home/nonroot" "$context/certs"
install -m 0755 "$binary" "$context/rootfs/usr/local/bin/intercept-proxy"
strip "$context/rootfs/usr/local/bin/intercept-proxy"
allowed='^(ld-linux-x86-64|ld-linux-aarch64|libc|libm|libssl|libcrypto|libnghttp2|libstdc\+\+|libgcc_s|libz)\.so'
ldd "$binary" | awk '/=>/ { print $3 } !/=>/ && /^[ \t]*\// { print $1 }' | while read -r library; do
  [ -n "$library" ] || continue
  name=$(basename "$library")
  if ! [[ $name =~ $allowed ]]; then echo "stage.sh: $binary needs $name, which is not on the image's list" >&2; exit 1; fi
  mkdir -p "$context/rootfs$(dirname "$library")"
  cp -L "$library" "$context/rootfs$library"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$context/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$context/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$context/rootfs/etc/group"
printf 'hosts: files dns\n' > "$context/rootfs/etc/nsswitch.conf"
mkdir -m 1777 "$context/rootfs/tmp"
chown 65532:65532 "$context/rootfs/home/nonroot"
