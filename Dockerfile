# syntax=docker/dockerfile:1
# One image for the controller, the receiver agent (and its simulator) and the one-shot
# broker initialisation; docker-compose.yml picks the program with `command:`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg: media transcoding and the agents' decoder; espeak-ng: text-to-speech bulletins;
# mosquitto-clients: mosquitto_sub/mosquitto_pub for healthchecks and debugging.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libopus0 espeak-ng mosquitto-clients \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user. The directories below are the mount points of the named volumes in
# docker-compose.yml: a new volume takes their owner, so the programs can write to it.
# broker/ stays world-searchable because the broker image later chowns that volume to
# its own user and broker-init must still be able to see that the file exists.
RUN groupadd --system --gid 10001 loalang \
    && useradd --system --uid 10001 --gid loalang --home-dir /var/lib/loalang \
        --no-create-home --shell /usr/sbin/nologin loalang \
    && install -d -o loalang -g loalang -m 0755 /var/lib/loalang /var/lib/loalang/broker \
    && install -d -o loalang -g loalang -m 0700 /var/lib/loalang/controller /var/lib/loalang/agent \
        /var/lib/loalang/nats-trust

# Only what the package needs (no .venv, data or .git from the build context).
COPY pyproject.toml README.md /tmp/loalang/
COPY loalang_protocol /tmp/loalang/loalang_protocol
COPY loalang_stack /tmp/loalang/loalang_stack
COPY controller /tmp/loalang/controller
COPY receiver_agent /tmp/loalang/receiver_agent
RUN pip install "/tmp/loalang[controller,agent]" \
    && rm -rf /tmp/loalang

USER loalang
WORKDIR /var/lib/loalang
# Inside a container the API must listen on every interface; outside one, the default
# stays 127.0.0.1.
ENV LOALANG_HTTP_HOST=0.0.0.0 \
    LOALANG_HTTP_PORT=8000 \
    LOALANG_DATA_DIR=/var/lib/loalang/controller

EXPOSE 8000
CMD ["radio-controller", "serve"]
