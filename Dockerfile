# hookconsole `watch` as a container: follows its sources into the store, evaluates alerts.toml, notifies, and
# serves Prometheus metrics on :9464. The store lives in the /data volume (or in PostgreSQL: HOOKCONSOLE_DB).
# docs/deploy.md shows how to run it; tests/test_deploy_container.py builds and runs it where an engine answers.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY console ./console
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
COPY --from=build /dist /tmp/dist
RUN set -eu; \
    wheel="$(ls /tmp/dist/hookconsole-*.whl)"; \
    python -m pip install --no-cache-dir --no-compile "${wheel}[postgres]"; \
    rm -rf /tmp/dist; \
    useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin hookconsole; \
    mkdir -p /data /etc/hookconsole; \
    chown hookconsole:hookconsole /data
ENV HOOKCONSOLE_DB=/data/hookconsole.db \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 9464
# /metrics answers 200 on the active watch and on a standby alike, 500 when the store cannot be read.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=4)"]
ENTRYPOINT ["hookconsole", "watch", "--metrics-host", "0.0.0.0", "--metrics-port", "9464", "--json-logs"]
# Arguments after the image name go on the watch command line: --alerts FILE, SOURCEs...
CMD []
