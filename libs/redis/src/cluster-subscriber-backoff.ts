import { createRequire } from "node:module";

/**
 * ioredis' Cluster (5.11 and 6.1 alike) holds its plain (not sharded) subscriptions on one
 * connection to a node it samples from its pool; when that connection ends it samples another at
 * once, with no delay. When every node of the cluster is gone the pool still lists them, each new
 * connection is refused within microseconds, and the loop never yields for long: a ws-node whose
 * cluster had died grew by ~800 MB a minute at a full core and never finished its drain
 * (`test/redis-cluster-outage.test.ts`). Its sharded subscribers already back off.
 *
 * This wraps the class's `selectSubscriber` once per process: a selection that comes within a
 * second of the previous one waits 50 ms, doubling to 2 s while the failures go on; the first
 * selection after a quiet second, and any after `stop()`, behave as before. Checked against
 * ioredis 5.11.1; if the method is gone in a later version this does nothing and says so in the
 * test above.
 */
interface Backoff {
  last: number;
  attempts: number;
  timer: NodeJS.Timeout | null;
}

type Selectable = { selectSubscriber(): void; stop(): void; isStarted(): boolean };

const STATE = Symbol("sdc.subscriberBackoff");
const QUIET_MS = 1000;
const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 2000;

let installed = false;

/** Whether the wrapper is in place (false if ioredis no longer has the method it wraps). */
export function installClusterSubscriberBackoff(): boolean {
  if (installed) return true;
  // A CommonJS module of ioredis' own (not in its public types): its class is the `default` export.
  const mod = createRequire(import.meta.url)("ioredis/built/cluster/ClusterSubscriber.js") as { default?: { prototype: Selectable } };
  const proto = mod.default?.prototype;
  if (!proto) return false;
  const select = proto.selectSubscriber;
  const stop = proto.stop;
  if (typeof select !== "function" || typeof stop !== "function") return false;
  proto.selectSubscriber = function (this: Selectable & { [STATE]?: Backoff }) {
    const state = (this[STATE] ??= { last: 0, attempts: 0, timer: null });
    if (state.timer) return; // one selection is already scheduled
    const now = Date.now();
    if (now - state.last >= QUIET_MS) {
      state.attempts = 0;
      state.last = now;
      select.call(this);
      return;
    }
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** state.attempts++);
    state.timer = setTimeout(() => {
      state.timer = null;
      state.last = Date.now();
      if (this.isStarted()) select.call(this);
    }, delay);
    state.timer.unref();
  };
  proto.stop = function (this: Selectable & { [STATE]?: Backoff }) {
    const state = this[STATE];
    if (state?.timer) {
      clearTimeout(state.timer);
      state.timer = null;
    }
    stop.call(this);
  };
  installed = true;
  return true;
}
