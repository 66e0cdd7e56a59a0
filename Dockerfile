# The worker image: `faust -A leaderboard_app worker`, web API on port 6066.
FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 leaderboard
WORKDIR /app
COPY pyproject.toml README.md ./
COPY leaderboard_app ./leaderboard_app
RUN pip install --no-cache-dir . && mkdir -p /data && chown leaderboard /data
# Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
USER 10001
ENV WEB_BIND=0.0.0.0 WEB_PORT=6066 APP_DATADIR=/data
EXPOSE 6066
# Healthy = ready: GET /ready answers 200 (urlopen raises on its 503), on the WEB_PORT the
# container runs with.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('WEB_PORT', '6066'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/ready', timeout=4).status != 200)"]
CMD ["faust", "-A", "leaderboard_app", "worker", "-l", "info"]
