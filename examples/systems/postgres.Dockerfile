# The node image of examples/systems/postgres.yaml for --cluster docker (its nodes.dockerfile): PostgreSQL 15 on
# the harness base image (built with build-arg BASE), plus the tools the faults use on a node.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-15 iproute2 iptables procps util-linux ca-certificates python3-fusepy \
 && rm -rf /var/lib/apt/lists/*
CMD ["sleep", "infinity"]
