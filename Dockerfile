# sova api: the REST API for every clinic, serving the built web UI on the same port.
# Same Debian 12 packages as scripts/install-deps; the installed layout of `cmake --install`
# (bin/sova, share/sova/{lua,clients,schemas,scripts,frontend/dist}).
# Build: docker build -t sova-api .     Run: docker run -e MONGODB_URI=... -e SOVA_JWT_SECRET=... -p 8080:8080 sova-api

# The web UI, exactly as frontend/package-lock.json pins it.
FROM node:20-bookworm-slim AS ui
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./
COPY schemas /src/schemas
COPY scripts/lib.sh /src/scripts/lib.sh
# FILE.gz beside each text file, as scripts/run builds it: sova api sends those to gzip clients
RUN npm run build && bash -c 'source /src/scripts/lib.sh && sova_gzip_dir dist'

FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libluajit-5.1-dev libcivetweb-dev libmongoc-dev libbson-dev lua-cjson-dev lua-rex-pcre2 \
      libsodium-dev libjwt-dev libcurl4-openssl-dev libyaml-dev libutf8proc-dev libicu-dev \
      libspeexdsp-dev libwebrtc-audio-processing-dev \
      libpocketsphinx-dev libsphinxbase-dev flite1-dev libespeak-ng-dev \
      libwebsockets-dev libuv1-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY core ./core
COPY lua ./lua
COPY clients ./clients
COPY schemas ./schemas
COPY scripts/setup_multi_tenant.lua ./scripts/
COPY --from=ui /src/frontend/dist ./frontend/dist
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOVA_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/opt/sova \
    && ninja -C build sova && cmake --install build

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libluajit-5.1-2 libcivetweb1 libmongoc-1.0-0 libbson-1.0-0 lua-cjson lua-rex-pcre2 \
      libsodium23 libjwt0 libcurl4 libyaml-0-2 libutf8proc2 libicu72 libspeexdsp1 libwebrtc-audio-processing1 \
      libwebsockets17 libwebsockets-evlib-uv libuv1 libssl3 \
      libpocketsphinx3 libsphinxbase3 pocketsphinx-en-us libflite1 libespeak-ng1 espeak-ng-data \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /opt/sova --shell /usr/sbin/nologin sova
COPY --from=build /opt/sova /opt/sova
USER sova
ENV SOVA_ENV=production SOVA_HTTP_HOST=0.0.0.0 SOVA_HTTP_PORT=8080 SOVA_DATA_DIR=/tmp/sova
EXPOSE 8080
# TLS terminates in front (civetweb's TLS is broken on OpenSSL 3): Fly.io proxy, nginx, a load balancer.
ENTRYPOINT ["/opt/sova/bin/sova"]
CMD ["api"]
