// Bench-only preload (`node --expose-gc --import ./load-tests/lib/gc-on-signal.mjs …`): SIGUSR2 runs
// a full GC, so the connections scenario reads a server's RSS without garbage in it. Not product code.
process.on("SIGUSR2", () => globalThis.gc?.());
