# The worker image: `faust -A leaderboard_app worker`, web API on port 6066.
FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 leaderboard
WORKDIR /app
COPY pyproject.toml README.md ./
COPY leaderboard_app ./leaderboard_app
RUN pip install --no-cache-dir . && mkdir -p /data && chown leaderboard /data
USER leaderboard
ENV WEB_BIND=0.0.0.0 WEB_PORT=6066 APP_DATADIR=/data
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:6066/ready', timeout=4).status != 200)"
CMD ["faust", "-A", "leaderboard_app", "worker", "-l", "info"]
