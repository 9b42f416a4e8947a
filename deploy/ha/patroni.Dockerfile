# PostgreSQL 15 with Debian's Patroni (the same packages deploy/ha.sh installs), run as postgres.
FROM postgres:15-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends patroni python3-etcd curl && rm -rf /var/lib/apt/lists/*
COPY patroni.yml /etc/patroni/patroni.yml
RUN mkdir -p /var/lib/postgresql/patroni && chown -R postgres /var/lib/postgresql /etc/patroni
USER postgres
ENTRYPOINT ["patroni", "/etc/patroni/patroni.yml"]
