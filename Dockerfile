# trustgate in a container: one instance; run several over PostgreSQL
# behind a load balancer (docs/deployment.md).
#
#   docker build -t trustgate .
#   docker run -p 14000:14000 -v trustgate-data:/var/lib/trustgate trustgate
#
# Runs as an unprivileged user; everything it writes is under
# /var/lib/trustgate (SQLite database, development CA, TLS certificate).
# For production mount your own /etc/trustgate/trustgate.toml (see
# conf/trustgate.example.toml), the admin listener's certificate and key
# (admin.tls = { cert = "/etc/trustgate/admin.pem", key = "/etc/trustgate/admin.key" })
# and pass secrets by environment: TRUSTGATE_DATABASE_URL,
# TRUSTGATE_EAB_ENCRYPTION_KEY.

FROM rust:1-bookworm AS build
WORKDIR /src
# Cargo.toml names every target, so all of their sources must be present.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY conf conf
COPY benches benches
COPY tests tests
COPY integration integration
RUN cargo build --release --locked --bin trustgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/trustgate --create-home trustgate
COPY --from=build /src/target/release/trustgate /usr/local/bin/trustgate
COPY conf/container.toml /etc/trustgate/trustgate.toml
USER trustgate
WORKDIR /var/lib/trustgate
ENV TRUSTGATE_CONFIG=/etc/trustgate/trustgate.toml
VOLUME /var/lib/trustgate
# 14000 ACME (TLS); 14001 admin API, staff console, /healthz, /readyz,
# /metrics (TLS with the development CA's certificate until you configure
# your own: publish it only to the management network); 14002 CRLs and the
# issuer certificate (plain HTTP, as the BRs require).
EXPOSE 14000 14001 14002
ENTRYPOINT ["trustgate"]
CMD ["serve"]
