# syntax=docker/dockerfile:1
#
# verifyctl as a container image.
#
#   docker build -t verifyctl .
#   docker run --rm verifyctl --version
#   docker run --rm -v "$PWD:/work" verifyctl plan policies --tenant-file examples/tenant.yaml
#
# Against a real tenant, pass the credentials as environment variables, never as arguments:
#   docker run --rm -v "$PWD:/work" -e AUTH0_DOMAIN -e AUTH0_CLIENT_ID -e AUTH0_CLIENT_SECRET \
#     verifyctl plan policies
# (`apply --tenant-file` writes the tenant file back: give the container a directory its user
# may write, e.g. with `--user "$(id -u):$(id -g)"`.)
#
# Two stages:
# - `build` compiles verifyctl on the official Rust image for Alpine, pinned to the crate's
#   rust-version (Cargo.toml) and to the Alpine release of the runtime. Rust targets musl
#   there and links statically, so the binary depends on nothing in the image it runs in.
# - `runtime` is that one static binary on Alpine, with CA certificates (the Management API
#   is reached over https with the system's roots) and the three tools CI job scripts use
#   (bash, curl, jq), running as an unprivileged user.
# Why Alpine and not distroless or scratch: CI systems such as GitLab's Docker executor run a
# job's script inside the job's image, with the image's own shell; the GitLab recipe
# (examples/ci/gitlab-ci.yml) runs in this image. A static binary on Alpine keeps the image
# small (no Rust toolchain, no compiler, no libc beyond Alpine's own) without losing that.
# For reproducible builds, pin both bases by digest as well (`rust:…@sha256:…`).

ARG RUST_VERSION=1.89.0
ARG ALPINE_VERSION=3.22

FROM rust:${RUST_VERSION}-alpine${ALPINE_VERSION} AS build
# A C compiler and musl's headers for the crates that build C (aws-lc-sys, for TLS).
RUN apk add --no-cache gcc make musl-dev
WORKDIR /src
COPY . .
# --locked: exactly the dependency versions of Cargo.lock. Stripped: the image carries no
# debug symbols. The caches only speed up rebuilds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=true cargo build --locked --release --bin verifyctl \
    && cp target/release/verifyctl /usr/local/bin/verifyctl \
    && /usr/local/bin/verifyctl --version

FROM alpine:${ALPINE_VERSION} AS runtime
RUN apk add --no-cache ca-certificates bash curl jq \
    && addgroup -S -g 10001 verifyctl \
    && adduser -S -D -H -u 10001 -G verifyctl -h /work -s /bin/bash verifyctl \
    && mkdir -p /work && chown verifyctl:verifyctl /work
COPY --from=build /usr/local/bin/verifyctl /usr/local/bin/verifyctl
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/verifyctl"]
CMD ["--help"]
