# syntax=docker/dockerfile:1
#
# One image for every Node deployable; the command selects which one runs:
#   token service  node dist/services/token/server.js (default)
#   gateway        node dist/gateway/server.js
#   migrations     node dist/db/migrate.js            (one-shot)
#   demo apps      node dist/services/whoami/server.js, node dist/services/notes/server.js,
#                  node dist/services/web/server.js (the browser app's static files)
# See docker-compose.yml and docs/DEPLOYMENT.md.

ARG NODE_VERSION=22

# --- build: compile TypeScript to plain JavaScript in dist/ ----------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# The sources (.dockerignore keeps tests, benchmarks, docs and secrets out);
# tsconfig.build.json decides what is compiled.
COPY . .
RUN npm run build
# tsc copies no static files: the browser app's go next to its compiled server.
RUN cp -r services/web/public dist/services/web/public

# --- runtime: production dependencies and compiled code only --------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    TOKEN_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0 \
    WHOAMI_HOST=0.0.0.0 \
    NOTES_HOST=0.0.0.0 \
    WEB_HOST=0.0.0.0 \
    HEALTHCHECK_URL=http://127.0.0.1:4000/healthz
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts are needed at run time (the only one, esbuild's, belongs to tsx,
# which production never runs).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /app/data && chown node:node /app/data
COPY --from=build /app/dist ./dist
COPY deploy ./deploy
# Code and dependencies stay root-owned and read-only to the service user; only
# /app/data (the embedded database, when DATABASE_URL is unset) is writable.
USER node
EXPOSE 4000 8080 4101 4102 4103
# Each service's compose entry sets its own URL; the default suits the token service.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs"]
# node itself is PID 1 (no npm, no shell): it receives SIGTERM directly and the
# servers shut down gracefully on it. Nothing forks child processes, so no init is
# needed to reap zombies.
CMD ["node", "dist/services/token/server.js"]
