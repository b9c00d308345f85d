# One image for every app of the cluster; docker-compose.yml picks the entry point.
# Debian bookworm: its glibc (2.36) is what the uWebSockets.js build in package.json needs.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps/api/package.json apps/api/
COPY apps/ws-node/package.json apps/ws-node/
COPY apps/worker/package.json apps/worker/
COPY libs libs
# tsx is a runtime dependency: the apps run their TypeScript directly, with no build step.
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV NODE_ENV=production HOST=0.0.0.0
USER node
CMD ["node", "--import", "tsx", "apps/ws-node/src/main.ts"]
