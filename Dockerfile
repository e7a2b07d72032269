# tracker: one image for every role of the background service (migrate, worker, beat, web).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
COPY db ./db
COPY workers ./workers
RUN pip install '.[worker]' \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin tracker \
    && mkdir -p /app/data && chown tracker /app/data

USER tracker
ENV XDG_DATA_HOME=/app/data
CMD ["tracker", "--help"]
