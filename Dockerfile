# syntax=docker/dockerfile:1
# One image for every Rampart service: `docker run IMAGE fusion`, `... vehicle --id ifv-7 --headless`.
# The broker is not in it: use eclipse-mosquitto:2 (docker-compose.yml) or any MQTT 5 broker.
# The map's page (`rampart map`): bundled from web/ with the npm registry's packages, pinned by
# web/package-lock.json; only the built files go into the image.
FROM node:20-slim AS web
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/build.mjs ./
COPY web/src ./src
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The services run as this user, not as root.
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin rampart

WORKDIR /opt/rampart

# Dependencies first, read from pyproject.toml alone: this layer is rebuilt only when they change,
# not at every edit of the source. All of them come as wheels; no compiler is needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt

# Then the project itself (README.md is the package's long description).
COPY README.md ./
COPY bus ./bus
COPY adapters ./adapters
COPY simulators ./simulators
COPY fusion ./fusion
COPY nodes ./nodes
COPY setup.py MANIFEST.in ./
COPY --from=web /build/nodes/map_static ./nodes/map_static
RUN pip install --no-deps . && rm -rf build ./*.egg-info

# Configuration by environment: RAMPART_BROKER (mqtts://host:port, or mqtt:// on a development
# broker), RAMPART_CA_FILE and RAMPART_IDENTITY_DIR (a deployment made by `rampart provision`, as
# docker-compose.yml mounts it), or RAMPART_CERT_FILE + RAMPART_KEY_FILE, RAMPART_USERNAME + RAMPART_PASSWORD.
ENV RAMPART_BROKER=mqtts://mosquitto:8883

USER rampart
WORKDIR /home/rampart

# SIGINT, not SIGTERM: Python turns it into KeyboardInterrupt, so a node marks itself offline
# (retained) and disconnects cleanly; SIGTERM to PID 1 would be ignored until the SIGKILL.
STOPSIGNAL SIGINT
ENTRYPOINT ["rampart"]
CMD ["--help"]
