# Image for docker-compose.yml (web, worker, gpu-worker). Not used by `make demo`/`make test`.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY config config
COPY explainers explainers
COPY studies studies
COPY analysis analysis
COPY templates templates
COPY manage.py ./
RUN pip install --no-cache-dir -e '.[prod]'
EXPOSE 8000
