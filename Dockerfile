# kafkahooks: one consumer-group member per container; scale by adding replicas.
FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --no-create-home \
       --shell /usr/sbin/nologin kafkahooks
USER 10001:10001
# /metrics, /healthz, /readyz (KAFKAHOOKS_HTTP_PORT)
EXPOSE 9400
ENTRYPOINT ["kafkahooks"]
CMD ["run", "--config", "/etc/kafkahooks/routes.yaml"]
