# SPDX-License-Identifier: GPL-2.0-or-later
# The image manifests/ferry.yaml names (ferry:0.1.0):
#   docker build -t ferry:0.1.0 .
# Two stages on Debian 12: the build (the Release type packagers use), then
# a runtime with only the shared libraries ferry links (checked by the
# ctest `dockerfile_runtime_deps`). ferry writes no file, so the DaemonSet
# runs it on a read-only root filesystem.
FROM debian:12 AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libnftnl-dev libmnl-dev libcurl4-openssl-dev libjson-c-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
    && ninja -C /build ferry \
    && install -D -m 0755 /build/src/ferry /out/usr/bin/ferry

FROM debian:12-slim
# runtime: libnftnl11 libmnl0 libcurl4 libjson-c5 libyaml-0-2 ca-certificates
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      libnftnl11 libmnl0 libcurl4 libjson-c5 libyaml-0-2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
COPY LICENSE NOTICE /usr/share/doc/ferry/
ENTRYPOINT ["/usr/bin/ferry"]
CMD ["agent"]
