import { randomUUID } from "node:crypto";
import { Socket, type Channel } from "phoenix";
import { vi } from "vitest";
import WebSocket from "ws";
import { startWsNode, type WsNode } from "../../apps/ws-node/src/node.ts";
import { startWorker, type WorkerHandle } from "../../apps/worker/src/worker.ts";
import { createTokenSigner } from "@seatdrop/auth";
import { events, seats as seatsTable, users, type WaitingRoomRecord } from "@seatdrop/db";
import { createLogger } from "@seatdrop/observability";
import { SeatService, resolveHoldSettings, type HoldSettings } from "@seatdrop/seats";
import type { TestEnv } from "./test-env.ts";

/** Real ws-nodes and a real worker, in this process, on random ports, against the test env's Redis and PostgreSQL. */
export interface TestCluster {
  nodes: WsNode[];
  worker: WorkerHandle;
  seats: SeatService;
  close(): Promise<void>;
}

export async function startCluster(env: TestEnv, o: { nodes?: number; worker?: boolean } = {}): Promise<TestCluster> {
  const logger = createLogger("test", env.config.LOG_LEVEL);
  const nodes: WsNode[] = [];
  for (let i = 0; i < (o.nodes ?? 2); i++) nodes.push(await startWsNode({ config: env.config, logger, port: 0, nodeId: `node-${i}` }));
  const worker = o.worker === false ? { isReady: () => false, close: async () => {} } : await startWorker({ config: env.config, logger });
  const seats = new SeatService({ redis: env.redis, keys: env.keys, config: env.config, logger, db: env.db.db });
  return {
    nodes,
    worker,
    seats,
    async close() {
      for (const n of nodes) await bounded(`ws-node ${n.nodeId}'s close`, n.close());
      await bounded("worker's close", worker.close());
    },
  };
}

/** Inserts an event and its seat map in PostgreSQL, as the API does, and returns its id. */
export type EventSettings = Partial<HoldSettings> & { paymentWindowMs?: number; salesOpenAt?: Date; salesCloseAt?: Date; maxSeatsPerUser?: number; waitingRoom?: WaitingRoomRecord };
export async function createEvent(env: TestEnv, seatIds: string[], settings: EventSettings = {}): Promise<string> {
  // One transaction, as the API does: the worker's sweep loads every current event into Redis, and
  // an event seen between two separate inserts would be loaded with an empty seat map.
  return env.db.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(events)
      .values({
        name: "Test drop",
        description: "a test event",
        location: "Test hall",
        startTime: new Date(Date.now() + 86_400_000),
        endTime: new Date(Date.now() + 90_000_000),
        ...settings,
      })
      .returning();
    await tx.insert(seatsTable).values(seatIds.map((seatId) => ({ eventId: row!.id, seatId, priceCents: 1000 })));
    return row!.id;
  });
}

export function seatIdsGrid(rows: number, perRow: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) for (let n = 1; n <= perRow; n++) out.push(`${String.fromCharCode(65 + r)}_${n}`);
  return out;
}

/** A user row and a token for it. */
export async function createUser(env: TestEnv, role: "user" | "admin" | "service" = "user"): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  await env.db.db.insert(users).values({ id, username: `u-${id}`, email: `${id}@test.local`, passwordHash: "scrypt$unused", role });
  const token = await createTokenSigner(env.config).sign({ sub: id, role });
  return { id, token };
}

/** A received push, as the stock client hands it to `channel.on`. */
export interface Received {
  event: string;
  payload: Record<string, unknown>;
}

/** The stock `phoenix` client over `ws`, with every push of its channels recorded. */
export class PhxClient {
  readonly socket: Socket;
  /** `reconnectAfterMs`: how long the client waits before each reconnect (a huge value: it never comes back). */
  constructor(port: number, token?: string, opts: { params?: Record<string, unknown>; reconnectAfterMs?: number } = {}) {
    this.socket = new Socket(`ws://127.0.0.1:${port}/socket`, {
      transport: WebSocket as unknown as typeof globalThis.WebSocket,
      params: token ? { token, ...opts.params } : opts.params,
      reconnectAfterMs: () => opts.reconnectAfterMs ?? 200,
      rejoinAfterMs: () => 200,
      logger: process.env.PHX_DEBUG ? (kind: string, msg: string, data: unknown) => console.log(kind, msg, data) : undefined,
    });
    this.socket.connect();
  }

  /** Joins a topic; resolves with the join reply, rejects with the error reply. */
  join(topic: string, params: Record<string, unknown> | (() => Record<string, unknown>) = {}): Promise<{ channel: Channel; reply: Record<string, unknown>; log: Received[] }> {
    const channel = this.socket.channel(topic, params as object);
    const log: Received[] = [];
    channel.onMessage = (event: string, payload: unknown) => {
      // The client also calls this for its own timeouts, with no event name.
      if (typeof event === "string" && !event.startsWith("phx_") && !event.startsWith("chan_reply_")) log.push({ event, payload: payload as Record<string, unknown> });
      return payload;
    };
    return new Promise((resolve, reject) => {
      channel
        .join()
        .receive("ok", (reply: Record<string, unknown>) => resolve({ channel, reply, log }))
        .receive("error", (err: unknown) => {
          channel.leave();
          reject(Object.assign(new Error(`join ${topic} refused: ${JSON.stringify(err)}`), { reply: err }));
        })
        .receive("timeout", () => reject(new Error(`join ${topic} timed out`)));
    });
  }

  disconnect(): Promise<void> {
    return new Promise((resolve) => this.socket.disconnect(() => resolve(), 1000, "test done"));
  }
}

/** Pushes and resolves with `{status, response}` whatever the status (`timeout` after `timeoutMs`). */
export function push(channel: Channel, event: string, payload: Record<string, unknown>, timeoutMs = 10_000): Promise<{ status: string; response: Record<string, unknown> }> {
  return new Promise((resolve) => {
    channel
      .push(event, payload, timeoutMs)
      .receive("ok", (response: Record<string, unknown>) => resolve({ status: "ok", response }))
      .receive("error", (response: Record<string, unknown>) => resolve({ status: "error", response }))
      .receive("timeout", () => resolve({ status: "timeout", response: {} }));
  });
}

/**
 * Waits until `check` returns a value (not undefined/false) and returns it, through vitest's own
 * `vi.waitFor` (no hand-written polling loop); `what` names the condition in the failure. New tests
 * may call `vi.waitFor` or `expect.poll` directly; this only adds the "falsy means not yet" rule and
 * the name that the older call sites rely on.
 */
export function eventually<T>(check: () => T | undefined | false, ms = 5000, what = "condition"): Promise<T> {
  return vi.waitFor(
    () => {
      const v = check();
      if (v === undefined || v === false) throw new Error(`timed out waiting for ${what}`);
      return v;
    },
    { timeout: ms, interval: 10 },
  );
}

/**
 * The first message named `event` in a channel's log (already logged or arriving within `ms`), that
 * `where` accepts when given: what a test waits for before asserting on its payload.
 */
export function firstLogged(log: Received[], event: string, opts: { where?: (m: Received) => boolean; ms?: number } = {}): Promise<Received> {
  return eventually(() => log.find((m) => m.event === event && (opts.where?.(m) ?? true)), opts.ms ?? 8000, `${event} in the channel log`);
}

export { resolveHoldSettings };

/** Waits for a teardown step at most 25 s, then warns naming it and goes on (the next steps still run). */
export async function bounded(step: string, work: Promise<unknown> | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overran = await Promise.race([Promise.resolve(work).then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 25_000)))]);
  clearTimeout(timer);
  if (overran) console.warn(`test teardown: ${step} did not finish within 25 s; going on`);
}
