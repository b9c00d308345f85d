import { createRequire } from "node:module";
import { Cluster } from "ioredis";

/**
 * Four fixes to ioredis' Cluster client (5.11.1; 6.1.0 has the same code), put in place once per
 * process by `connectRedis` when it opens a Cluster client. Each wraps one method of an internal
 * class; `test/redis-cluster-outage.test.ts` fails if a later ioredis no longer has it.
 */
export function installIoredisClusterFixes(): { subscriberBackoff: boolean; cheapSlotCompare: boolean; refreshThrottle: boolean; connectSettles: boolean } {
  return {
    subscriberBackoff: installClusterSubscriberBackoff(),
    cheapSlotCompare: installCheapSlotCompare(),
    refreshThrottle: installRefreshThrottle(),
    connectSettles: installConnectSettles(),
  };
}

const requireIoredis = createRequire(import.meta.url);

/**
 * ioredis' Cluster (5.11 and 6.1 alike) holds its plain (not sharded) subscriptions on one
 * connection to a node it samples from its pool; when that connection ends it samples another at
 * once, with no delay. When every node of the cluster is gone the pool still lists them, each new
 * connection is refused within microseconds, and the loop never yields for long: a ws-node whose
 * cluster had died grew by ~800 MB a minute at a full core and never finished its drain
 * (`test/redis-cluster-outage.test.ts`). Its sharded subscribers already back off.
 *
 * This wraps the class's `selectSubscriber`: a selection that comes within a second of the
 * previous one waits 50 ms, doubling to 2 s while the failures go on; the first selection after a
 * quiet second, and any after `stop()`, behave as before.
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

let backoffInstalled = false;

/** Whether the wrapper is in place (false if ioredis no longer has the method it wraps). */
function installClusterSubscriberBackoff(): boolean {
  if (backoffInstalled) return true;
  // A CommonJS module of ioredis' own (not in its public types): its class is the `default` export.
  const mod = requireIoredis("ioredis/built/cluster/ClusterSubscriber.js") as { default?: { prototype: Selectable } };
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
  backoffInstalled = true;
  return true;
}

/**
 * A Cluster client with sharded subscribers (every ws-node's subscriber) compares the slot map it
 * had with the new one after each slot refresh, as two `JSON.stringify`s of 16,384 entries: 40 % of
 * a process's CPU during a failover (see the refresh throttle below). This compares entry by entry,
 * with the same result (an absent entry and a null one are equal, as JSON makes them).
 */
function installCheapSlotCompare(): boolean {
  const mod = requireIoredis("ioredis/built/cluster/ClusterSubscriberGroup.js") as { default?: { prototype: { _slotsAreEqual?: unknown; clusterSlots?: unknown } } };
  const proto = mod.default?.prototype;
  if (!proto || typeof proto._slotsAreEqual !== "function") return false;
  proto._slotsAreEqual = function (this: { clusterSlots?: (string[] | null | undefined)[] }, other: (string[] | null | undefined)[]): boolean {
    const mine = this.clusterSlots;
    if (mine === undefined || mine.length !== other.length) return false;
    for (let i = 0; i < other.length; i++) {
      const a = mine[i];
      const b = other[i];
      if (a == null || b == null) {
        if (a == null && b == null) continue;
        return false;
      }
      if (a.length !== b.length) return false;
      for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
    }
    return true;
  };
  return true;
}

/**
 * While a shard fails over, every command that fails on it makes the Cluster client refresh its
 * slot map (a new connection, CLUSTER SLOTS, a walk over 16,384 slots) as soon as the previous
 * refresh ended. In a profile of one process running two ws-nodes and the worker (about ten Cluster
 * clients), refreshes took most of its CPU from the master's death to the promotion, and the locks of
 * events on the healthy shards fell from ~500-1,700/s to ~130-260/s (`test/redis-cluster.test.ts`,
 * "a master dies"). A ready client now starts at most one refresh per 250 ms: one asked for sooner
 * is run when the gap is over, with every callback asked for meanwhile. The first refreshes (while
 * the client connects) are never delayed.
 */
const REFRESH_GAP_MS = 250;
const REFRESH = Symbol("sdc.refreshThrottle");
let refreshInstalled = false;

type Refreshing = { status: string; [REFRESH]?: { last: number; timer: NodeJS.Timeout | null; waiting: ((err?: Error) => void)[] } };

function installRefreshThrottle(): boolean {
  if (refreshInstalled) return true;
  const proto = Cluster.prototype as unknown as { refreshSlotsCache?: (cb?: (err?: Error) => void) => void };
  const refresh = proto.refreshSlotsCache;
  if (typeof refresh !== "function") return false;
  proto.refreshSlotsCache = function (this: Refreshing, callback?: (err?: Error) => void) {
    const state = (this[REFRESH] ??= { last: 0, timer: null, waiting: [] });
    const since = Date.now() - state.last;
    if (this.status !== "ready" || (since >= REFRESH_GAP_MS && !state.timer)) {
      state.last = Date.now();
      refresh.call(this, callback);
      return;
    }
    if (callback) state.waiting.push(callback);
    state.timer ??= setTimeout(() => {
      state.timer = null;
      state.last = Date.now();
      const waiting = state.waiting.splice(0);
      refresh.call(this, (err) => {
        for (const cb of waiting) cb(err);
      });
    }, REFRESH_GAP_MS - since).unref();
  };
  refreshInstalled = true;
  return true;
}

/**
 * `Cluster#connect()` returns a promise that never settles when its attempt gets the slot map but
 * fails the ready check (a node answers `cluster_state:fail`, as every node does while a shard
 * fails over): the client drops its close listener, disconnects and reconnects by itself, and the
 * first promise is forgotten (ioredis PR #741, open since 2018). BullMQ's Worker awaits that promise
 * when its blocking connection's watchdog reconnects, so a worker that reconnected during a
 * failover never fetched a job again and could not be closed (`test/redis-cluster.test.ts`, "the
 * worker still runs the jobs of its queues"). This makes the promise also resolve on the client's
 * next `ready` and reject on its `end` (no reconnection will come), whichever happens first.
 */
let connectInstalled = false;

function installConnectSettles(): boolean {
  if (connectInstalled) return true;
  const proto = Cluster.prototype as unknown as { connect?: () => Promise<void> };
  const connect = proto.connect;
  if (typeof connect !== "function") return false;
  proto.connect = function (this: Cluster) {
    const attempt = connect.call(this);
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        this.off("ready", onReady);
        this.off("end", onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => settle();
      const onEnd = () => settle(new Error("Connection is closed."));
      this.once("ready", onReady);
      this.once("end", onEnd);
      attempt.then(() => settle(), settle);
    });
  };
  connectInstalled = true;
  return true;
}
