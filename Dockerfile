# samsa's container image: the static binary and nothing else (no shell, no
# libc, no JVM). Build it with `make image`, which builds the binary on the
# host and lays out bin/image/ first (no base image is pulled).
#
# The entrypoint keeps the apache/kafka image's contract: KAFKA_* variables
# are properties, a server.properties mounted in /mnt/shared/config is the
# base they go on top of, CLUSTER_ID formats empty storage (docs/deploy.md).
FROM scratch

# Root-owned: /etc/passwd and /etc/group naming the samsa user, the default
# configuration, and /tmp (mode 1777) for compose files that keep Kafka's
# KAFKA_LOG_DIRS=/tmp/kraft-combined-logs.
COPY bin/image/root/ /
# Owned by the samsa user: the data volume and the mounted-config directory
# (a new named volume mounted there starts with this owner).
COPY --chown=1000:1000 bin/image/data/ /
COPY bin/image/samsa /samsa

USER 1000:1000
EXPOSE 9092
# The data volume. /mnt/shared/config is where a server.properties is
# bind-mounted; it is not declared a volume, so that containers without one
# do not each leave an empty anonymous volume behind.
VOLUME ["/var/lib/kafka/data"]

# No shell to run a probe script: the binary asks its own broker (on a
# controller-only node, the quorum) and exits 0 when it serves.
HEALTHCHECK --interval=3s --timeout=5s --start-period=60s --retries=3 CMD ["/samsa", "healthcheck"]

ENTRYPOINT ["/samsa"]
CMD ["docker-entrypoint"]
