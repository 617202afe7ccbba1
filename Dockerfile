# ztoc as a container image, for the Kubernetes backfill Job (docs/examples/k8s-backfill-job.yaml) and CI.
#
#   docker build -t ztoc .
#   docker run --rm -v "$HOME/.docker:/docker:ro" -e DOCKER_CONFIG=/docker ztoc index registry.example.com/app:1.2
#
# Stage 1 packs ztoc exactly as `npm pack` does for a release (prepack compiles the prebuilt addon, prepare
# compiles TypeScript). Stage 2 installs that tarball on a plain node:20-slim, which has no python3, make or
# cc: the install succeeds only because the prebuild fits, and `ztoc doctor` proves the addon loads.
# How this file was checked: docs/install.md.

FROM node:20-slim AS build
# A C compiler for scripts/prebuild.mjs (this platform's target only); Node's headers come with the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no node-gyp build of the addon here, the prebuild below is what ships.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# The tarball, plus a package.json/package-lock.json that pin its dependencies to our lockfile.
RUN PREBUILD_TARGETS=host npm pack --pack-destination /tmp \
 && node scripts/install-lock.mjs /tmp/ztoc-*.tgz /out

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /opt/ztoc
COPY --from=build /out/ ./
# npm ci runs ztoc's install script (node-gyp-build): it loads the prebuild and compiles nothing.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && rm -f ztoc-*.tgz \
 && ln -s /opt/ztoc/node_modules/.bin/ztoc /usr/local/bin/ztoc \
 && ztoc doctor
# The image's `node` user by number, so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
WORKDIR /home/node
ENTRYPOINT ["ztoc"]
CMD ["--help"]
