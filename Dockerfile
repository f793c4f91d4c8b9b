# hrvcast server and scorer image (CPU only). Built by docker-compose.yml; not built on the project's CI
# machines (no container engine there): tests/grafana checks that every path copied here exists.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HRVCAST_MODEL=/app/model/checkpoints/burnout-default.pt \
    HRVCAST_STORE=sqlite:////app/var/hrvcast.sqlite

WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU index: the default index would pull the CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"

COPY pyproject.toml README.md ./
COPY model ./model
COPY server ./server
# Editable, so the checkpoint under /app/model/checkpoints stays where settings look.
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app hrvcast \
    && mkdir -p /app/var \
    && chown hrvcast /app/var

USER hrvcast
EXPOSE 8000
# Readiness, not liveness: /readyz reads the store and needs the model loaded, so "healthy" means panels work
# (/healthz answered 200 with the store down or the checkpoint corrupt). It sends the API token when one is set.
# Its timeout is above HRVCAST_STORE_TIMEOUT's default 5 s plus the model check. Under an orchestrator that
# replaces unhealthy containers, override it with /healthz (docs/grafana.md, step 5).
HEALTHCHECK --interval=30s --timeout=12s --retries=3 \
    CMD python -c "import os, urllib.request as u; t = os.environ.get('HRVCAST_API_TOKEN'); u.urlopen(u.Request('http://127.0.0.1:8000/readyz', headers={'Authorization': 'Bearer ' + t} if t else {}), timeout=10)"
CMD ["hrvcast", "serve", "--host", "0.0.0.0", "--port", "8000"]
