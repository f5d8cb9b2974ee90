#!/usr/bin/env bash
# Installs Debian's docker.io and debootstrap, starts dockerd by hand (no systemd) unless an engine
# already answers on the default socket, and imports the base image greenlang-base:bookworm.
# Idempotent and quick when warm: the engine's data root (images) and the base rootfs tarball are
# cached under ~/.cache/greenlang. Stop the engine with .ci/docker-stop.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=.ci/docker-env.sh
source "$here/docker-env.sh"

install_packages() {  # docker.io brings dockerd, containerd, runc and its own CLI (/usr/bin/docker)
  if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then
    return
  fi
  echo "installing docker.io and debootstrap with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
}

engine_answers() {
  timeout 10 "$DOCKER" version >/dev/null 2>&1
}

start_engine() {
  if engine_answers; then
    return
  fi
  mkdir -p "$GL_DOCKER_DATA" "$GL_DOCKER_RUN" "$(dirname "$GL_DOCKER_LOG")"
  if [[ -f "$GL_DOCKER_PID" ]] && kill -0 "$(cat "$GL_DOCKER_PID")" 2>/dev/null; then
    echo "dockerd (pid $(cat "$GL_DOCKER_PID")) runs but does not answer; restarting it" >&2
  fi
  bash "$here/docker-stop.sh"   # leftovers of an engine that died: pid file, nsfs mounts, bridge
  echo "starting dockerd (data root $GL_DOCKER_DATA, log $GL_DOCKER_LOG)" >&2
  setsid dockerd --data-root "$GL_DOCKER_DATA" --exec-root "$GL_DOCKER_EXEC" \
    --pidfile "$GL_DOCKER_PID" --host "unix://$GL_DOCKER_SOCKET" --storage-driver overlay2 \
    >>"$GL_DOCKER_LOG" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 120); do
    if engine_answers; then
      return
    fi
    sleep 0.5
  done
  echo "dockerd did not answer on $GL_DOCKER_SOCKET within 60 s; the end of $GL_DOCKER_LOG:" >&2
  tail -n 20 "$GL_DOCKER_LOG" >&2
  exit 1
}

debian_mirror() {  # the Debian mirror this machine's apt uses (deb822 or one-line sources)
  local uri
  uri=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}
             /^deb / && $2 ~ /\/debian\/?$/ {print $2; exit}' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_image() {  # debootstrap once into a cached tarball; import it into a new data root
  if "$DOCKER" image inspect "$GL_BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  local tarball="$GL_CACHE/images/greenlang-base-bookworm.tar"
  if [[ ! -s "$tarball" ]]; then
    local rootfs mirror
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d)
    echo "debootstrap bookworm minbase + python3, libatomic1 (regopy needs it) from $mirror" >&2
    debootstrap --variant=minbase --include=python3,libatomic1 bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
      "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
    mkdir -p "$(dirname "$tarball")"
    tar -C "$rootfs" -c . > "$tarball.tmp"
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  "$DOCKER" import "$tarball" "$GL_BASE_IMAGE" >/dev/null
}

(
  flock 9   # parallel callers (pytest workers, CI) start one engine
  install_packages
  start_engine
  base_image
) 9>"/tmp/greenlang-docker-engine.lock"
