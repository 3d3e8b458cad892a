import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Prints, at the end of the run, the tests skipped for want of a service (redis-server).
    globalSetup: ["test/support/services/global-setup.ts"],
  },
});
