#!/usr/bin/env bash
# Stops the dockerd that docker-engine.sh started (by its pid file, never by name) and removes
# what an exited dockerd leaves behind: nsfs mounts under its exec root, the docker0 bridge and
# its iptables rules. Safe to run when nothing runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=.ci/docker-env.sh
source "$here/docker-env.sh"

if [[ -f "$GL_DOCKER_PID" ]]; then
  pid=$(cat "$GL_DOCKER_PID")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$GL_DOCKER_PID"
fi

# nsfs (network namespace) and other mounts under the exec root, deepest first
awk -v root="$GL_DOCKER_EXEC" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo \
  | sort -r | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done

if ip link show docker0 >/dev/null 2>&1; then
  ip link delete docker0 || true
fi
# every iptables rule and chain that names Docker (filter and nat tables)
if iptables-save 2>/dev/null | grep -q -E 'DOCKER|docker0'; then
  iptables-save | grep -v -E 'DOCKER|docker0' | iptables-restore
fi
