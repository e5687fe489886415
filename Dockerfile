# One image for the four services and the `lapor-hub` command; the command picks the service (see deploy/docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LAPOR_HUB_BIND_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY lapor_hub ./lapor_hub
RUN pip install . && useradd --system --uid 10001 lapor
USER lapor
CMD ["lapor-hub", "--help"]
