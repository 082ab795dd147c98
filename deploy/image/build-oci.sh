#!/usr/bin/env bash
# CI check of netdiag's container image, without a Docker daemon and without the network.
#
#   deploy/image/build-oci.sh BINARY WORKDIR
#   deploy/image/build-oci.sh target/debug/netdiag /tmp/oci-work
#
# 1. rootfs.sh assembles the rootfs from BINARY into WORKDIR/context next to a copy of the Dockerfile.
# 2. buildah (vfs storage in WORKDIR, chroot isolation) builds deploy/image/Dockerfile and pushes it
#    to the OCI layout WORKDIR/oci, tag netdiag:ci. When buildah cannot work here, umoci builds the
#    same image from the same Dockerfile (FROM scratch, COPY, USER, EXPOSE, ENTRYPOINT, CMD, LABEL, ARG
#    are all it uses; anything else fails). The output says which builder made the image.
#    NETDIAG_IMAGE_BUILDER=buildah|umoci forces one (default: auto, buildah then umoci).
# 3. skopeo inspects the image; the checks: Entrypoint ["/usr/local/bin/netdiag"], the serve Cmd,
#    User 65532:65532 (not root), ExposedPorts 9115/tcp, the OCI labels, one layer whose files are
#    only the binary, its libraries, the CA bundle and passwd/group/nsswitch.conf, all owned by root,
#    no /bin/sh (no shell at all).
# 4. The layer is extracted and the image's own Entrypoint + Cmd run in it with chroot as 65532:65532:
#    `--version`, then `serve --config.file=/etc/netdiag/netdiag.yml --config.check` on a small config,
#    which proves the libraries are complete.
#
# Needs root (buildah's vfs storage, chroot) and Debian 12's buildah, skopeo, umoci, jq (and tar,
# util-linux's unshare, coreutils' chroot/timeout). Every step runs in a fresh network namespace
# when unshare can make one, so nothing can be pulled. On exit the buildah containers and images,
# their storage and the unpacked trees are removed; WORKDIR/oci (the image) and the inspect JSON
# stay. NETDIAG_IMAGE_KEEP=1 keeps everything.
set -euo pipefail
umask 022

prog=${0##*/}
die() { printf '%s: FAIL: %s\n' "$prog" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$prog" "$*"; }
usage() {
    printf 'usage: %s BINARY WORKDIR\n  e.g. %s target/debug/netdiag /tmp/oci-work\n' "$prog" "$prog" >&2
    exit 2
}

[ "$#" -eq 2 ] || usage
if [ -z "$1" ] || [ -z "$2" ]; then usage; fi
binary=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builder=${NETDIAG_IMAGE_BUILDER:-auto}
case "$builder" in auto | buildah | umoci) ;; *) printf '%s: NETDIAG_IMAGE_BUILDER must be auto, buildah or umoci\n' "$prog" >&2; exit 2 ;; esac
case "$2" in / | /. | /.. | . | ..) printf '%s: refusing WORKDIR %s\n' "$prog" "$2" >&2; exit 2 ;; esac

if [ "$(id -u)" -ne 0 ]; then
    printf '%s: must run as root (buildah vfs storage, chroot into the image)\n' "$prog" >&2
    exit 2
fi
{ [ -f "$binary" ] && [ -x "$binary" ]; } || die "binary '$binary' is not an executable file (cargo build -p netdiag)"
for tool in skopeo jq tar chroot timeout; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install buildah skopeo umoci jq)"
done
case "$builder" in
    buildah) command -v buildah >/dev/null || die "buildah not found" ;;
    umoci) command -v umoci >/dev/null || die "umoci not found" ;;
    auto) command -v buildah >/dev/null || command -v umoci >/dev/null || die "neither buildah nor umoci found" ;;
esac

mkdir -p "$2"
workdir=$(cd "$2" && pwd)
context=$workdir/context
storage=$workdir/storage
runroot=$workdir/run
bundle=$workdir/bundle
unpacked=$workdir/unpacked
oci=$workdir/oci
tag=netdiag:ci
image=oci:$oci:$tag
umoci_image=$oci:$tag # umoci's --image is LAYOUT:TAG, without the transport
local_name=localhost/netdiag:ci
policy=$workdir/policy.json
limit=600 # seconds, per step
start=$SECONDS

buildah_cmd=(buildah --root "$storage" --runroot "$runroot" --storage-driver vfs)

cleanup() {
    local rc=$?
    if [ "${NETDIAG_IMAGE_KEEP:-}" != 1 ]; then
        if [ -d "$storage" ] && command -v buildah >/dev/null; then
            timeout 120 "${buildah_cmd[@]}" rm --all >/dev/null 2>&1 || true
            timeout 120 "${buildah_cmd[@]}" rmi --all --force >/dev/null 2>&1 || true
        fi
        rm -rf "$storage" "$runroot" "$bundle" "$unpacked" "$context"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# No network for any step: a fresh network namespace (only loopback, down) when one can be made.
nonet=()
if unshare --net true 2>/dev/null; then
    nonet=(unshare --net --)
    network="none (own network namespace)"
else
    network="host's (unshare --net is not permitted here; nothing is pulled: FROM scratch, oci: transport)"
fi
run() { timeout "$limit" ${nonet[@]+"${nonet[@]}"} "$@"; }

rm -rf "$storage" "$runroot" "$bundle" "$unpacked" "$context" "$oci"
rm -f "$workdir"/buildah.log "$workdir"/umoci.log "$workdir"/*.json
mkdir -p "$context"
cp "$here/Dockerfile" "$context/Dockerfile"
bash "$here/rootfs.sh" "$binary" "$context/rootfs"
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$policy"

build_buildah() {
    # --network none is refused with chroot isolation; there is no RUN, and run() has no network anyway.
    run "${buildah_cmd[@]}" bud --isolation chroot --pull=never --format oci \
        --timestamp 0 --signature-policy "$policy" -t "$local_name" \
        -f "$context/Dockerfile" "$context" &&
        run "${buildah_cmd[@]}" push --signature-policy "$policy" "$local_name" "$image"
}

# The Dockerfile's instructions as umoci config flags; unknown instructions fail (the two builders
# must make the same image, so this never guesses).
umoci_config=()
umoci_copy=
parse_dockerfile() {
    local line trimmed joined="" instr rest key value name values
    local -A args=()
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        trimmed=${line#"${line%%[![:space:]]*}"}
        if [ -z "$joined" ]; then
            case "$trimmed" in '' | '#'*) continue ;; esac
        fi
        if [[ $line == *\\ ]]; then
            joined+="${line%\\} "
            continue
        fi
        joined+=$line
        read -r instr rest <<<"$joined"
        joined=
        # ${NAME} from ARG defaults.
        for name in "${!args[@]}"; do rest=${rest//\$\{$name\}/${args[$name]}}; done
        case "${instr^^}" in
            FROM) [ "$rest" = scratch ] || die "umoci path: only FROM scratch is supported, not '$rest'" ;;
            ARG)
                [[ $rest =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "umoci path: ARG needs a default: '$rest'"
                args[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
                ;;
            LABEL)
                while [[ $rest =~ ^[[:space:]]*([A-Za-z0-9._-]+)=\"([^\"]*)\"(.*)$ ]]; do
                    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
                    umoci_config+=(--config.label "$key=$value")
                done
                [[ $rest =~ ^[[:space:]]*$ ]] || die "umoci path: cannot read LABEL rest '$rest' (use key=\"value\")"
                ;;
            COPY)
                [ "$rest" = "rootfs/ /" ] || die "umoci path: only 'COPY rootfs/ /' is supported, not '$rest'"
                umoci_copy=1
                ;;
            USER) umoci_config+=(--config.user "$rest") ;;
            EXPOSE)
                for value in $rest; do
                    [[ $value == */* ]] || value=$value/tcp
                    umoci_config+=(--config.exposedports "$value")
                done
                ;;
            ENTRYPOINT | CMD)
                jq -e 'type == "array" and all(.[]; type == "string")' <<<"$rest" >/dev/null ||
                    die "umoci path: $instr must be a JSON array of strings: '$rest'"
                mapfile -t values < <(jq -r '.[]' <<<"$rest")
                for value in "${values[@]}"; do umoci_config+=("--config.${instr,,}" "$value"); done
                ;;
            *) die "umoci path: Dockerfile instruction $instr is not supported" ;;
        esac
    done <"$context/Dockerfile"
    [ -n "$umoci_copy" ] || die "umoci path: the Dockerfile copies no rootfs"
}

build_umoci() {
    parse_dockerfile
    run umoci init --layout "$oci" &&
        run umoci new --image "$umoci_image" &&
        run umoci unpack --image "$umoci_image" "$bundle" &&
        cp -a "$context/rootfs/." "$bundle/rootfs/" &&
        run umoci repack --image "$umoci_image" "$bundle" &&
        run umoci config --image "$umoci_image" "${umoci_config[@]}" &&
        run umoci gc --layout "$oci"
}

used=
if [ "$builder" != umoci ] && command -v buildah >/dev/null; then
    log "building with buildah $(buildah --version | awk '{print $3}') (vfs storage, chroot isolation)"
    if build_buildah >"$workdir/buildah.log" 2>&1; then
        used=buildah
    else
        printf '%s: buildah failed here:\n' "$prog" >&2
        tail -n 15 "$workdir/buildah.log" | sed 's/^/    /' >&2
        [ "$builder" = auto ] || die "buildah could not build the image (log: $workdir/buildah.log)"
        rm -rf "$oci" "$storage" "$runroot"
    fi
fi
if [ -z "$used" ]; then
    command -v umoci >/dev/null || die "no builder worked (buildah log: $workdir/buildah.log; umoci not installed)"
    [ "$builder" = auto ] && log "falling back to umoci"
    log "building with umoci $(umoci --version | awk '{print $3}') (init, new, unpack, repack, config)"
    build_umoci >"$workdir/umoci.log" 2>&1 || {
        tail -n 15 "$workdir/umoci.log" | sed 's/^/    /' >&2
        die "umoci could not build the image (log: $workdir/umoci.log)"
    }
    used=umoci
fi
built=$SECONDS
log "image built by $used into $image (network: $network)"

# Inspect.
run skopeo inspect --config "$image" >"$workdir/config.json" || die "skopeo inspect --config $image"
run skopeo inspect "$image" >"$workdir/inspect.json" || die "skopeo inspect $image"
run skopeo inspect --raw "$image" >"$workdir/manifest.json" || die "skopeo inspect --raw $image"

failed=0
check() { # check DESCRIPTION FILE JQ-EXPRESSION
    if jq -e "$3" "$2" >/dev/null; then
        printf '  ok    %s\n' "$1"
    else
        printf '  FAIL  %s (%s: %s)\n' "$1" "${2##*/}" "$3" >&2
        failed=1
    fi
}
ok() { printf '  ok    %s\n' "$1"; }
fail() { printf '  FAIL  %s\n' "$1" >&2; failed=1; }

log "checks"
check 'Entrypoint is ["/usr/local/bin/netdiag"]' "$workdir/config.json" '.config.Entrypoint == ["/usr/local/bin/netdiag"]'
check 'Cmd is ["serve", "--config.file=/etc/netdiag/netdiag.yml"]' "$workdir/config.json" \
    '.config.Cmd == ["serve", "--config.file=/etc/netdiag/netdiag.yml"]'
check 'User is 65532:65532 (not root)' "$workdir/config.json" '.config.User == "65532:65532"'
check 'ExposedPorts has 9115/tcp' "$workdir/config.json" '.config.ExposedPorts | has("9115/tcp")'
check 'labels title=netdiag, source, licenses' "$workdir/config.json" \
    '.config.Labels["org.opencontainers.image.title"] == "netdiag"
     and (.config.Labels["org.opencontainers.image.source"] | length > 0)
     and .config.Labels["org.opencontainers.image.licenses"] == "MIT OR Apache-2.0"'
check 'os linux' "$workdir/config.json" '.os == "linux"'
check 'exactly one layer (FROM scratch + one COPY)' "$workdir/manifest.json" '.layers | length == 1'
[ "$failed" -eq 0 ] || die "image config checks failed (see $workdir/config.json)"

layer_digest=$(jq -r '.layers[0].digest' "$workdir/manifest.json")
layer_size=$(jq -r '.layers[0].size' "$workdir/manifest.json")
layer_type=$(jq -r '.layers[0].mediaType' "$workdir/manifest.json")
blob=$oci/blobs/${layer_digest%%:*}/${layer_digest#*:}
[ -f "$blob" ] || die "layer blob $blob is missing"
[ "$(stat -c %s "$blob")" = "$layer_size" ] || die "layer blob size differs from the manifest's"
[ "$(sha256sum "$blob" | cut -d' ' -f1)" = "${layer_digest#sha256:}" ] || die "layer blob digest differs from the manifest's"

# The layer's contents: tar lists "MODE UID/GID SIZE DATE TIME PATH".
listing=$(tar -tvf "$blob" --numeric-owner) || die "cannot list the layer $blob"
paths=$(awk '{ p = $6; sub(/^\.\//, "", p); sub(/\/$/, "", p); if (p != "" && p != ".") print p }' <<<"$listing")
shells=$(grep -E '(^|/)(sh|bash|dash|ash|busybox)$' <<<"$paths" || true)
if [ -z "$shells" ]; then ok 'no /bin/sh (no shell at all)'; else fail "the layer has a shell: $shells"; fi
allowed='^(usr/local/bin/netdiag|etc/(passwd|group|nsswitch\.conf)|etc/ssl/certs/ca-certificates\.crt|(usr/)?lib(32|64|x32)?(/[^/]+)?/[^/]+\.so(\.[0-9]+)*)$'
others=$(awk '$1 !~ /^d/ { p = $6; sub(/^\.\//, "", p); print p }' <<<"$listing" | grep -Ev "$allowed" || true)
if [ -z "$others" ]; then ok 'only the binary, its libraries, the CA bundle, passwd/group/nsswitch.conf'; else fail "unexpected files: $(tr '\n' ' ' <<<"$others")"; fi
odd=$(awk '$1 !~ /^[-d]/' <<<"$listing")
if [ -z "$odd" ]; then ok 'no symlinks, devices or whiteouts'; else fail "unexpected entries: $odd"; fi
notroot=$(awk '$2 != "0/0"' <<<"$listing")
if [ -z "$notroot" ]; then ok 'every file owned by 0/0 (65532 cannot modify them)'; else fail "files not owned by root: $notroot"; fi
if grep -Eq '^-rwxr-xr-x 0/0 .* (\./)?usr/local/bin/netdiag$' <<<"$listing"; then ok '/usr/local/bin/netdiag is 0755 root'; else fail '/usr/local/bin/netdiag missing or not 0755 root'; fi
if grep -Eq '^nonroot:x:65532:65532:' <(tar -xOf "$blob" etc/passwd 2>/dev/null || tar -xOf "$blob" ./etc/passwd); then ok '/etc/passwd names nonroot 65532'; else fail '/etc/passwd has no nonroot 65532'; fi
[ "$failed" -eq 0 ] || die "layer checks failed"

# Run the image's own Entrypoint + Cmd in the extracted layer, as the image's user, empty environment.
mkdir -p "$unpacked"
tar -xf "$blob" -C "$unpacked" --numeric-owner || die "cannot extract the layer"
mapfile -t entrypoint < <(jq -r '.config.Entrypoint[]' "$workdir/config.json")
mapfile -t cmd < <(jq -r '.config.Cmd[]' "$workdir/config.json")
user=$(jq -r '.config.User' "$workdir/config.json")
chroot_bin=$(command -v chroot)
in_image() { run env -i "$chroot_bin" --userspec="$user" "$unpacked" "$@"; }

if version=$(in_image "${entrypoint[@]}" --version 2>&1) && [[ $version == "netdiag "* ]]; then
    ok "runs as $user: ${entrypoint[*]} --version: $version"
else
    fail "${entrypoint[*]} --version in the image: $version"
fi
# The Cmd's config path, filled here only (a ConfigMap mounts it in the pod), checked by serve itself.
mkdir -p "$unpacked/etc/netdiag"
printf 'modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n' >"$unpacked/etc/netdiag/netdiag.yml"
if out=$(in_image "${entrypoint[@]}" "${cmd[@]}" --config.check 2>&1); then
    ok "runs as $user: ${entrypoint[*]} ${cmd[*]} --config.check: $out"
else
    fail "${entrypoint[*]} ${cmd[*]} --config.check in the image: $out"
fi
[ "$failed" -eq 0 ] || die "the image does not run"

files=$(awk '$1 ~ /^-/' <<<"$listing" | wc -l)
unpacked_bytes=$(awk '$1 ~ /^-/ { s += $3 } END { print s + 0 }' <<<"$listing")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
log "PASS: built by $used in $((built - start))s, checked in $((SECONDS - built))s"
printf '  image     %s (%s)\n' "$image" "$(jq -r '.Digest' "$workdir/inspect.json")"
printf '  platform  %s/%s\n' "$(jq -r '.os' "$workdir/config.json")" "$(jq -r '.architecture' "$workdir/config.json")"
printf '  layer     %s, %s (%s unpacked), %s files\n' "$layer_type" "$(mib "$layer_size")" "$(mib "$unpacked_bytes")" "$files"
printf '  user      %s, entrypoint %s, ports %s\n' "$user" "${entrypoint[*]}" \
    "$(jq -r '.config.ExposedPorts | keys | join(",")' "$workdir/config.json")"
