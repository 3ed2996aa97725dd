# syntax=docker/dockerfile:1
# Two images from one file: `--target cpu` (libtensorflow on the CPU through
# @tensorflow/tfjs-node) and `--target gpu` (CUDA through @tensorflow/tfjs-node-gpu).
# Both native packages are optional dependencies whose install scripts download
# libtensorflow; each image installs with scripts off and then builds only the one it needs.
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS node

# ---------------------------------------------------------------------------------------
# The native engine (native/: oneDNN's LSTM/GRU/RNN primitives and sgemm) serves the wasm
# backend, the fastest CPU path measured (docs/performance.md); RNNLM_BACKEND=tensorflow
# picks libtensorflow instead.
FROM node:${NODE_VERSION}-bookworm-slim AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libdnnl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild @tensorflow/tfjs-node esbuild \
 && npm cache clean --force
COPY . .
RUN npm run build:native \
 && node -e "require('./native/build/Release/rnnlm_native.node')" \
 && node scripts/build-web.mjs
RUN mkdir -p /data/models /data/corpora /data/checkpoints && chown -R node:node /data
USER node
ENV NODE_ENV=production \
    RNNLM_BACKEND=wasm \
    RNNLM_NATIVE_KERNELS=on \
    RNNLM_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
VOLUME ["/data"]
CMD ["node", "--import", "tsx", "src/main.ts"]

# ---------------------------------------------------------------------------------------
# tfjs-node-gpu 4.22 binds libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS gpu
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild @tensorflow/tfjs-node-gpu esbuild \
 && npm cache clean --force
COPY . .
RUN mkdir -p /data/models /data/corpora /data/checkpoints
ENV NODE_ENV=production \
    RNNLM_BACKEND=tensorflow \
    RNNLM_DATA_DIR=/data \
    RNNLM_ROLE=worker \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
CMD ["node", "--import", "tsx", "src/main.ts"]
