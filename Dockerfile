# tracker: one image for every role of the background service (migrate, worker, beat, web).
# Reproducible: every dependency is pinned by requirements.lock (pip-compile of pyproject.toml
# with the worker extra; regenerate it with the command in its header when dependencies change).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY tracker ./tracker
COPY db ./db
COPY workers ./workers
COPY docker/entrypoint.sh /usr/local/bin/tracker-entrypoint
RUN pip install --no-deps -c requirements.lock '.[worker]' \
    && pip check \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin tracker \
    && mkdir -p /app/data && chown tracker /app/data

USER tracker
ENV XDG_DATA_HOME=/app/data
ENTRYPOINT ["tracker-entrypoint"]
CMD ["tracker", "--help"]
