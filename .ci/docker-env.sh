# Where the hand-started Docker engine keeps its state; sourced by docker-engine.sh and docker-stop.sh.
GL_CACHE="${GREENLANG_CACHE:-$HOME/.cache/greenlang}"
GL_DOCKER_DATA="$GL_CACHE/docker"                 # images survive between runs
GL_DOCKER_RUN=/run/greenlang-docker               # tmpfs: gone after a reboot, like the engine
GL_DOCKER_EXEC="$GL_DOCKER_RUN/exec"              # short: containerd's unix sockets live here
GL_DOCKER_PID="$GL_DOCKER_RUN/dockerd.pid"
GL_DOCKER_LOG="$GL_CACHE/logs/dockerd.log"
GL_DOCKER_SOCKET=/var/run/docker.sock             # the default, so docker.from_env() finds it
GL_BASE_IMAGE=greenlang-base:bookworm
DOCKER=/usr/bin/docker                            # docker.io's CLI, the engine's own version
export DOCKER_HOST="unix://$GL_DOCKER_SOCKET"
