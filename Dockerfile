# GoHands in a container, driving the host's Docker engine through its socket.
#
#   make build sandbox-image        # bin/gohands, bin/runtime-agent, gohands/sandbox:bookworm
#   docker build -t gohands .
#   docker run -d -p 127.0.0.1:3000:3000 \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /tmp/gohands-run:/tmp/gohands-run \
#     -v gohands-state:/var/lib/gohands gohands
#
# The server reaches each sandbox's runtime-agent through a Unix socket in a
# folder under SANDBOX_RUN_DIR, which the engine bind-mounts into the
# sandbox from the host: mount that folder at the same path on the host and
# in this container, as above, and both sides see the same sockets.
#
# The binaries are built on the host and only copied here: no Go toolchain,
# no registry, no network during the build. Both must be static
# (CGO_ENABLED=0); `make build` makes both so. The base defaults to the local sandbox
# image, which already has bash and curl; any Debian-like image works:
#
#   docker build --build-arg BASE=debian:bookworm-slim -t gohands .
ARG BASE=gohands/sandbox:bookworm
FROM ${BASE}

COPY bin/gohands bin/runtime-agent /usr/local/bin/

# A server in a container cannot bind-mount its runtime-agent into sandboxes:
# the path is inside this container, not on the engine's host. It copies the
# binary into each sandbox before start instead.
ENV GOHANDS_AGENT_BINARY=/usr/local/bin/runtime-agent \
    SANDBOX_INJECT=copy \
    SANDBOX_TRANSPORT=unix \
    SANDBOX_RUN_DIR=/tmp/gohands-run

# Conversations, events and secrets (bbolt). Keep it on a named volume to
# survive upgrades.
VOLUME /var/lib/gohands

EXPOSE 3000

# Root, because the engine's socket is usually root:docker with a host gid
# this image cannot know.
ENTRYPOINT ["/usr/local/bin/gohands"]
CMD ["--host", "0.0.0.0", "--port", "3000", "--state", "/var/lib/gohands/state.db"]
