# Wharf's container image: one static binary on an empty base, run as an unprivileged user.
#
# It is built without a network from what scripts/image.sh stages in bin/image: the binary
# (CGO_ENABLED=0 go build), this machine's CA bundle (for S3 over TLS), /etc/passwd naming the user, and
# the empty data and temporary directories:
#
#   scripts/image.sh wharf:latest          (podman; IMAGE_BUILDER=docker for docker)
#
# With network access, deploy/container/Dockerfile builds the same image from the source in one step.
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 varlib/ /var/lib/
ENV WHARF_DATA_DIR=/var/lib/wharf \
    WHARF_ADDR=:5000 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/wharf
VOLUME /var/lib/wharf
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/wharf", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/wharf"]
CMD ["serve"]
