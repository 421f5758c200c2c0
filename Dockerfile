# source-zoho-desk: the Airbyte source and its webhook collector, one image.
#
#   docker build -t source-zoho-desk/source-zoho-desk:dev .
#   docker run --rm source-zoho-desk/source-zoho-desk:dev spec
#   docker run -d -p 8080:8080 -v zoho-collector:/data source-zoho-desk/source-zoho-desk:dev collector serve
#
# BASE_IMAGE is the tag of Airbyte's python-connector-base that metadata.yaml's
# connectorBuildOptions.baseImage pins (there with its digest); CI builds FROM a local stand-in
# tagged with this exact name (.ci/container-engine.sh), or passes --build-arg BASE_IMAGE=...
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2
FROM ${BASE_IMAGE}

# Keep io.airbyte.version equal to metadata.yaml's dockerImageTag (unit_tests/test_packaging.py).
LABEL io.airbyte.name=source-zoho-desk/source-zoho-desk \
      io.airbyte.version=0.1.0 \
      org.opencontainers.image.title=source-zoho-desk \
      org.opencontainers.image.licenses=MIT

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /airbyte/integration_code

# Dependencies first, in a layer that only setup.py (and the version in metadata.yaml) invalidate:
# install the distribution with an empty package, then drop the distribution and keep its deps.
COPY setup.py metadata.yaml ./
RUN mkdir source_zoho_desk \
    && touch source_zoho_desk/__init__.py \
    && pip install --use-pep517 . \
    && pip uninstall -y source-zoho-desk \
    && rm -rf source_zoho_desk build ./*.egg-info

# The connector itself (no dependency resolution: the layer above has them all).
COPY source_zoho_desk ./source_zoho_desk
RUN pip install --no-deps --use-pep517 . \
    && rm -rf build ./*.egg-info \
    && source-zoho-desk spec >/dev/null

# Run as an unprivileged user; the collector's data directory belongs to it.
RUN (getent group airbyte >/dev/null || groupadd --system --gid 1000 airbyte) \
    && (id -u airbyte >/dev/null 2>&1 || useradd --uid 1000 --gid airbyte --home-dir /home/airbyte --create-home airbyte) \
    && mkdir -p /data \
    && chown airbyte:airbyte /data
USER airbyte

# The collector: `docker run ... collector serve` listens on 8080 and keeps its state in /data.
ENV ZOHO_COLLECTOR_DATA_DIR=/data \
    ZOHO_COLLECTOR_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

ENV AIRBYTE_ENTRYPOINT="source-zoho-desk"
ENTRYPOINT ["source-zoho-desk"]
