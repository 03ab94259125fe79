# Image for docker-compose.yml (migrate, collectstatic, web, worker, gpu-worker); docs/deploy.md.
# Not used by `make demo`/`make test`. torch from PyPI carries its CUDA libraries, so the one
# image serves the CPU and the GPU worker.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ICELAB_HOME=/data
WORKDIR /app
# Dependencies first, so a code change does not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p config icelab jobs explainers studies analysis \
    && pip install '.[prod]' && pip uninstall -y icelab
COPY . .
RUN pip install --no-deps -e '.[prod]'
# Not root: the app writes only to ICELAB_HOME (a volume) and reads its secrets from
# /run/secrets (which must be readable by uid 1000; docs/deploy.md).
RUN useradd --uid 1000 --create-home icelab && mkdir -p /data && chown icelab /data
USER icelab
VOLUME /data
EXPOSE 8000
# The web service's command (config/deploy.py WEB); docker-compose.yml sets each service's own.
CMD ["gunicorn", "config.wsgi:application", "--bind=0.0.0.0:8000", "--worker-class=gthread", "--threads=4", "--timeout=60", "--access-logfile=-"]
