#!/usr/bin/env bash
# Assemble the root filesystem of netdiag's container image (deploy/image/Dockerfile copies it).
#
#   deploy/image/rootfs.sh BINARY OUTDIR
#   deploy/image/rootfs.sh target/release/netdiag deploy/image/rootfs
#
# OUTDIR gets exactly what the image holds and nothing else:
#   /usr/local/bin/netdiag                 the binary
#   the shared libraries ldd names         at the paths ldd prints (ld-linux, libc, libm, libgcc_s...)
#   /etc/ssl/certs/ca-certificates.crt     the CA roots (from this machine's ca-certificates)
#   /etc/passwd, /etc/group                root and the unprivileged `nonroot` user 65532
#   /etc/nsswitch.conf                     hosts: files dns
# No shell, no package manager, no /tmp (the pod runs with a read-only root filesystem).
# Libraries come from this machine, so build the binary on the glibc you ship (Debian 12 here).
#
# Environment: NETDIAG_CA_BUNDLE overrides the CA bundle (default /etc/ssl/certs/ca-certificates.crt).
# An existing OUTDIR is replaced only when it is empty or an earlier output of this script.
set -euo pipefail
umask 022

prog=${0##*/}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
usage() {
    printf 'usage: %s BINARY OUTDIR\n  e.g. %s target/release/netdiag deploy/image/rootfs\n' "$prog" "$prog" >&2
    exit 2
}

[ "$#" -eq 2 ] || usage
binary=$1
outdir=$2
if [ -z "$binary" ] || [ -z "$outdir" ]; then usage; fi
ca_bundle=${NETDIAG_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[ -f "$binary" ] || die "binary '$binary' does not exist (build it: cargo build --release -p netdiag)"
[ -x "$binary" ] || die "binary '$binary' is not executable"
[ -s "$ca_bundle" ] || die "CA bundle '$ca_bundle' is missing or empty (apt-get install ca-certificates, or set NETDIAG_CA_BUNDLE)"
grep -q 'BEGIN CERTIFICATE' "$ca_bundle" || die "CA bundle '$ca_bundle' holds no PEM certificate"
command -v ldd >/dev/null || die "ldd not found (it is in Debian's libc-bin)"

case "$outdir" in
    / | /. | /.. | . | ..) die "refusing OUTDIR '$outdir'" ;;
esac
if [ -e "$outdir" ] && [ ! -d "$outdir" ]; then
    die "OUTDIR '$outdir' exists and is not a directory"
fi
if [ -d "$outdir" ] && [ -n "$(ls -A "$outdir")" ]; then
    if [ -f "$outdir/usr/local/bin/netdiag" ] && [ -f "$outdir/etc/nsswitch.conf" ]; then
        rm -rf "$outdir"
    else
        die "OUTDIR '$outdir' is not empty and not an earlier rootfs; give an empty or new directory"
    fi
fi
mkdir -p "$outdir"

# The binary.
install -D -m 0755 "$binary" "$outdir/usr/local/bin/netdiag"

# The shared libraries, at the paths ldd prints, symlinks resolved (the image has none).
# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
# "linux-vdso.so.1 (0x...)" (in the kernel, nothing to copy), "libfoo.so => not found".
if ! ldd_out=$(LC_ALL=C ldd "$binary" 2>&1); then
    case "$ldd_out" in
        *"not a dynamic executable"* | *"statically linked"*) ldd_out= ;;
        *) die "ldd '$binary' failed: $ldd_out" ;;
    esac
fi
case "$ldd_out" in
    *"statically linked"*) ldd_out= ;;
esac
libs=()
while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    [ -n "$line" ] || continue
    case "$line" in
        *"=> not found"*) die "ldd: ${line%% *} not found for '$binary'" ;;
        *" => "/*) path=${line#* => }; path=${path%% (*} ;;
        /*) path=${line%% (*} ;;
        *" => "*) continue ;;  # "linux-vdso.so.1 =>  (0x...)" on older glibc: the kernel's
        *) continue ;;         # linux-vdso.so.1 (0x...)
    esac
    [ -f "$path" ] || die "ldd names '$path' for '$binary' but it is not a file"
    libs+=("$path")
done <<<"$ldd_out"
for path in ${libs[@]+"${libs[@]}"}; do
    mkdir -p "$outdir$(dirname "$path")"
    cp -L "$path" "$outdir$path"
    chmod 0755 "$outdir$path"
done

# The CA roots (rustls-native-certs reads this path, like OpenSSL on Debian).
install -D -m 0644 "$ca_bundle" "$outdir/etc/ssl/certs/ca-certificates.crt"

# Users: root owns every file; netdiag runs as nonroot 65532 (USER in the Dockerfile).
cat >"$outdir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin
PASSWD
cat >"$outdir/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
# glibc's files and dns modules are inside libc.so.6 since 2.34: nothing more to copy.
cat >"$outdir/etc/nsswitch.conf" <<'NSS'
passwd: files
group: files
hosts: files dns
NSS
chmod 0644 "$outdir/etc/passwd" "$outdir/etc/group" "$outdir/etc/nsswitch.conf"

files=$(find "$outdir" -type f | wc -l)
size=$(du -sh "$outdir" | cut -f1)
printf '%s: %s: %s files, %s (netdiag, %d libraries, CA bundle, passwd/group/nsswitch.conf)\n' \
    "$prog" "$outdir" "$files" "$size" "${#libs[@]}"
