import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["apps/*/test/**/*.test.ts", "libs/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // Test files start real servers on random ports against the real Redis and PostgreSQL; each file
    // gets its own database and key prefix (test/support/test-env.ts), so files may run in parallel.
    pool: "forks",
    reporters: ["default", "./test/support/summary-reporter.ts"],
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
