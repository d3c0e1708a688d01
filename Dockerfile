# The registry service: gunicorn, as a non-root user. Runs the migrations, then serves.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 registry \
 && useradd --system --uid 10001 --gid registry --home-dir /app --shell /usr/sbin/nologin registry

WORKDIR /app
# Pinned dependencies first (a layer that changes only with the lock), then the two
# distributions of this repository: the SDK (sdk/, whose folders link to the packages
# below: the registry imports its protocol package and VOPRF) and the registry itself.
COPY requirements.lock ./
RUN pip install --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY registry ./registry
COPY registry_protocol ./registry_protocol
COPY rfc9497 ./rfc9497
COPY lender_client ./lender_client
RUN pip install --no-deps ./sdk . && pip check && rm -rf /root/.cache build sdk/build \
 && install -d -o registry -g registry -m 0700 /var/lib/registry/oprf-keys

ENV REGISTRY_ENV=production \
    REGISTRY_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    REGISTRY_OPRF_KEY_DIR=/var/lib/registry/oprf-keys

# The OPRF secret key lives here, outside the database: mount a volume, back it up apart.
VOLUME ["/var/lib/registry/oprf-keys"]

USER registry
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"

CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && registry db upgrade && registry keys init --if-missing && exec gunicorn -c python:registry.gunicorn_config 'registry:create_app()'"]
