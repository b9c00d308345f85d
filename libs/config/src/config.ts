import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";

/**
 * Every setting of every app, read from environment variables only and validated once.
 * A bad value stops the app with a message naming the variable.
 */
const portList = z
  .string()
  .transform((s, ctx) => {
    const ports = s.split(",").map((p) => p.trim()).filter(Boolean).map(Number);
    if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65535)) {
      ctx.addIssue({ code: "custom", message: "must be a comma-separated list of ports, e.g. 4000,4001" });
      return z.NEVER;
    }
    return ports;
  });

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

/** A comma-separated list of IP addresses (may be empty). */
const ipList = z.string().transform((s) => s.split(",").map((p) => p.trim()).filter(Boolean));

/** A comma-separated list of `host:port` (REDIS_CLUSTER_NODES), each checked; empty means unset. */
const hostPortList = z
  .string()
  .transform((s, ctx) => {
    const out: { host: string; port: number }[] = [];
    for (const item of s.split(",").map((p) => p.trim()).filter(Boolean)) {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        ctx.addIssue({ code: "custom", message: `not host:port: ${item}` });
        return z.NEVER;
      }
      out.push({ host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) });
    }
    return out.length > 0 ? out : undefined;
  })
  .optional();

/** An IP address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`). */
function isAddressOrCidr(v: string): boolean {
  const [ip, bits, extra] = v.split("/");
  const family = isIP(ip ?? "");
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}
/** A comma-separated list of addresses and CIDR blocks (may be empty), each checked. */
const cidrList = ipList.superRefine((list, ctx) => {
  const bad = list.filter((v) => !isAddressOrCidr(v));
  if (bad.length > 0) ctx.addIssue({ code: "custom", message: `not an IP address or CIDR block: ${bad.join(", ")}` });
});

const schema = z.object({
  /**
   * `production` requires `JWT_SECRET` (also with `JWKS_URL`: every process must verify the
   * cluster's own tokens), `SERVICE_SECRET`, `ADMIN_PASSWORD`, `PAYMENT_WEBHOOK_SECRET` and
   * `METRICS_TOKEN`, refuses a placeholder (`change-me…`) or a secret under 32 bytes, naming the
   * variable, and refuses `DEV_PAYMENTS=1`.
   */
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** The pino log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * How logs are written: `json` (one JSON object a line, what log collectors read), `pretty` (a
   * human line: time, level, app, message), or `auto`: pretty when the process writes to a
   * terminal outside production (`npm start` in a terminal), JSON otherwise.
   */
  LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
  /** The address every app listens on. */
  HOST: z.string().default("0.0.0.0"),
  /** The API's port (the seat-map page, the ops page and the HTTP API). */
  API_PORT: int(3000),
  /** The worker's health and metrics port. */
  WORKER_PORT: int(3001),
  /** The ports `npm start` runs its ws-nodes on, one node per port (comma-separated). */
  WS_PORTS: portList.default([4000, 4001]),
  /** The port of this one ws-node process; `npm start` sets it for each entry of WS_PORTS. */
  WS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** A name for this node in logs and liveness records; random when unset. */
  NODE_ID: z.string().min(1).optional(),
  /** Redis (ignored when `REDIS_CLUSTER_NODES` is set). */
  REDIS_URL: z.string().url().default("redis://127.0.0.1:6379"),
  /**
   * Seeds of a Redis Cluster (`host:port,host:port,…`). When set, every process uses ioredis' Cluster
   * client for commands, subscribers and BullMQ, and REDIS_URL is ignored (each app says so at start).
   */
  REDIS_CLUSTER_NODES: hostPortList,
  /** Every Redis key and channel starts with it, so several deployments (or test runs) share one Redis. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only").default("sdc"),
  /** PostgreSQL, the system of record. */
  DATABASE_URL: z.string().url().default("postgres://postgres@127.0.0.1:5432/postgres"),
  /**
   * The HS256 key the API signs the cluster's own tokens with and every process verifies them with.
   * Required in production (also with `JWKS_URL`); generated per run in development, so tokens do
   * not survive a restart unless it is set.
   * @default generated
   */
  JWT_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /** The issuer (`iss`) of the cluster's own tokens. */
  JWT_ISSUER: z.string().default("seat-drop-cluster"),
  /** How long a token the API issues is valid, in seconds. */
  JWT_TTL_SECONDS: int(86_400, 60),
  /**
   * Also accept RS256/ES256 tokens of an identity provider, checked against its key set (the
   * cluster's own HS256 tokens keep working). Its users are plain users: roles come only from this
   * cluster's own tokens. A provider user acts as a name-based UUID (v5) of the issuer and `sub`,
   * never the raw `sub`: a `sub` equal to a local user's id cannot act as that user, and one with `:`
   * cannot reach a Redis key. `JWT_SECRET` is still required in production.
   */
  JWKS_URL: z.string().url().optional(),
  /** The identity provider's issuer (`iss`) when JWKS_URL is set; JWT_ISSUER otherwise. */
  JWKS_ISSUER: z.string().optional(),
  /** The audience (`aud`) tokens must name, if set: providers mint tokens for many applications. */
  JWT_AUDIENCE: z.string().optional(),
  /**
   * The legacy seat dialect's `authorizationString` for the backend actions reserve, unreserve, pay,
   * revoke.
   * @default generated
   */
  SERVICE_SECRET: z.string().min(8, "must be at least 8 characters").optional(),
  /** The first admin's email; the admin is created, or updated, at start. */
  ADMIN_EMAIL: z.string().email().default("admin@example.com"),
  /**
   * The first admin's password. Generated per run in development (`npm start` prints it); required
   * in production.
   * @default generated
   */
  ADMIN_PASSWORD: z.string().min(8, "must be at least 8 characters").optional(),
  /**
   * Base URLs of the ws-nodes and the worker for the ops page (comma-separated); default: this host's
   * WS_PORTS and WORKER_PORT, as `npm start` runs them.
   * @default this host's worker and `WS_PORTS`
   */
  OPS_TARGETS: z.string().optional(),
  /**
   * The WebSocket URL (`ws://` or `wss://`) the seat-map page connects to (e.g. the load balancer's);
   * default: the host the browser loaded the page from, first WS port. Never taken from a request
   * header (`Host`, `X-Forwarded-Host`), which a client could forge to point another user's page at
   * its own server.
   * @default the host the browser loaded the page from, first of `WS_PORTS`
   */
  PUBLIC_WS_URL: z
    .string()
    .url()
    .refine((u) => /^wss?:\/\//i.test(u), "must be a ws:// or wss:// URL")
    .optional(),
  /** The event a client of the legacy seat dialect gets when it connects to `/` without `?event=`. */
  DEFAULT_EVENT_ID: z.string().uuid().optional(),
  /** How long a hold lasts before its seats go back to everyone; each event may set its own. */
  HOLD_TTL_MS: int(600_000, 100),
  /** The most seats one hold may have (`hold_limit` past it); each event may set its own. */
  HOLD_MAX_SEATS: int(10, 1),
  /**
   * How long a hold outlives its buyer's last live connection before it is abandoned and its seats
   * released; each event may set its own.
   */
  HOLD_GRACE_MS: int(30_000, 0),
  /** How many times a hold may be given a fresh TTL (`extend`); each event may set its own. */
  HOLD_MAX_EXTENSIONS: int(2, 0),
  /**
   * After a user lets a seat go (unlocks it, or their hold expires or is abandoned), how long that
   * user may not lock it again (others may; `relock_cooldown`): a script cannot keep a seat forever
   * by re-locking the instant its hold runs out, or by unlock and re-lock. 0 disables it.
   */
  HOLD_RELOCK_COOLDOWN_MS: int(5000, 0),
  /**
   * Group commit of seat locks and unlocks: while one script call for an event is in flight, a
   * process gathers that event's next transitions and sends them as one call of at most this many
   * (libs/seats/lua/seatTransitions-19.lua). A lone transition goes out at once.
   */
  SEAT_BATCH_MAX: int(64, 1),
  /**
   * How long one ws-node's liveness record vouches for its users (refreshed every third of it).
   * A node killed with -9 stops vouching when it runs out; its users' holds are abandoned a grace
   * later.
   */
  WS_LIVE_WINDOW_MS: int(15_000, 300),
  /**
   * How often each ws-node sweeps the expired holds of the events it watches (under a per-event
   * lease, so one node does it per interval): holds expire even while the worker is down.
   * 0 disables it.
   */
  WS_HOLD_SWEEP_MS: int(1000, 0),
  /**
   * How often the worker checks that its Job Schedulers still exist (a Redis flush erases them) and
   * re-creates the lost ones; also on every reconnect.
   */
  WORKER_SCHEDULER_CHECK_MS: int(5000, 100),
  /**
   * On a Redis Cluster, how often the worker reads `CLUSTER SHARDS` to notice a failover: a shard
   * whose replica was promoted has its events given a new epoch and rebuilt from PostgreSQL, as
   * after a Redis restart.
   */
  REDIS_FAILOVER_CHECK_MS: int(1000, 100),
  /**
   * Waiting rooms (libs/queue): how often the node holding a room's lease ticks it, admitting (and
   * drawing, at `sales_open_at`).
   */
  QUEUE_TICK_MS: int(250, 20),
  /** How often each node tells its waiters their place (and vouches that they are still there). */
  QUEUE_POSITION_MS: int(1000, 50),
  /** How long a place outlives its user's last socket on `queue:<event>` before it is given up. */
  QUEUE_ABANDON_MS: int(120_000, 1000),
  /** The most buyers one tick of a waiting room admits. */
  QUEUE_ADMIT_BATCH: int(500, 1),
  /** How many seats an admitted buyer is assumed to take before the room has seen any (the prior of the running mean). */
  QUEUE_SEATS_PER_BUYER: int(2, 1),
  /**
   * How often the tick walks every admitted buyer to count who holds what (a few Redis calls each);
   * the ticks between reuse the counts, adding whom they admitted, so they admit fewer, never more.
   * 0 walks on every tick.
   */
  QUEUE_WALK_MS: int(1000, 0),
  /**
   * How long seats freed by an expired or abandoned hold are offered to the waiting room's next buyer
   * (the admitted buyer with an empty hold admitted first, else the next in the queue, admitted on the
   * spot) before anyone else may lock them (`seat_offered`). 0 returns them to the open map at once.
   */
  QUEUE_OFFER_MS: int(10_000, 0),
  /** How many seat events each event's log keeps for `last_seq` catch-up. */
  EVENT_LOG_MAX: int(10_000, 100),
  /**
   * Coalescing tick of seat updates for joins with `{"changes": true}`: a node sends each seat
   * stream at most one `changes` frame per tick. The first change after a quiet tick goes out at
   * once, so a calm room keeps millisecond latency; 0 flushes every delivered batch.
   */
  SEAT_TICK_MS: int(50, 0),
  /** The largest frame a client may send, in bytes; uWebSockets.js drops a connection that sends a larger one (1006). */
  WS_MAX_PAYLOAD: int(16 * 1024, 512),
  /**
   * Bytes a socket's send buffer may hold: past it the client is a slow consumer and is closed with
   * 4408 (and rejoins with `last_seq`).
   */
  WS_MAX_BACKPRESSURE: int(1024 * 1024, 16 * 1024),
  /**
   * A join reply larger than WS_MAX_BACKPRESSURE (a big venue's snapshot) may sit in a socket's send
   * buffer while the client reads it; a socket whose buffer has not gone down for this long has
   * stopped reading and is closed 4408 (checked every second).
   */
  WS_REPLY_STALL_MS: int(5000, 1000),
  /** Seconds a socket may send nothing before it is closed (uWebSockets.js's idle timeout; it pings quiet sockets itself). */
  WS_IDLE_TIMEOUT_S: int(60, 8),
  /**
   * Frames per second one socket may send (a token bucket; every frame counts: joins, leaves,
   * heartbeats, refused and malformed pushes). A whole-map join (without `changes`) is also charged
   * a token per whole 64 KiB of its reply, so asking for a large venue's whole map again and again
   * is refused `rate_limited` (join with `changes` instead).
   */
  WS_PUSH_RATE: int(20, 1),
  /** The burst one socket may send above WS_PUSH_RATE (the token bucket's size). */
  WS_PUSH_BURST: int(40, 1),
  /**
   * Joins one socket may have waiting for their reply; one more is refused `rate_limited` (1,000
   * joins of random events on one socket would each cost a Redis call and a query).
   */
  WS_JOINS_IN_FLIGHT: int(4, 1),
  /**
   * The window of the limits counted in Redis, so every node agrees: attempts per client address
   * and per user within LIMIT_WINDOW_S seconds. 0 turns one limit off. Past a limit the answer is
   * `rate_limited` with `retry_after_ms` (HTTP 429 with Retry-After).
   */
  LIMIT_WINDOW_S: int(60, 1),
  /**
   * WebSocket upgrades (both dialects) per client address. Each ws-node decides them in memory
   * against the cluster-wide counts (see LIMIT_SYNC_MS).
   */
  LIMIT_CONNECTS_PER_IP: int(600, 0),
  /** WebSocket upgrades (both dialects) per user. */
  LIMIT_CONNECTS_PER_USER: int(120, 0),
  /** Chat joins that carry a `ticket_number` (a claim) per client address: each is a guess at a ticket number. */
  LIMIT_TICKET_CLAIMS_PER_IP: int(30, 0),
  /** Chat joins that carry a `ticket_number` (a claim) per user. */
  LIMIT_TICKET_CLAIMS_PER_USER: int(10, 0),
  /** Sign-in attempts per client address, checked before the password is hashed. */
  LIMIT_SIGN_INS_PER_IP: int(30, 0),
  /**
   * Failed sign-ins of one account per (account, address), refused past it. Across addresses an
   * account's failures past the same number only slow its sign-ins down (a delay doubling from
   * 100 ms per failure, at most 2 s) instead of locking it, so a stranger cannot keep the owner out.
   * A success clears both counts.
   */
  LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT: int(10, 0),
  /** Sign-ups per client address. */
  LIMIT_SIGN_UPS_PER_IP: int(10, 0),
  /** Waiting-room joins (`queue:<event>`) per client address: each is a Redis call, and a bot would rejoin to probe its place. */
  LIMIT_QUEUE_JOINS_PER_IP: int(120, 0),
  /** Waiting-room joins (`queue:<event>`) per user. */
  LIMIT_QUEUE_JOINS_PER_USER: int(30, 0),
  /**
   * Full reads of a seat map (`GET /api/events/:id/seats`, and `/layout` when it sends a body; a 304
   * is free) per address: a 100,000-seat map is 9 MB, and unlimited anonymous reads would make the
   * API an amplifier. The buyer page reads the layout once and then follows the socket.
   */
  LIMIT_MAP_READS_PER_IP: int(120, 0),
  /**
   * Client addresses the per-address limits skip (comma-separated; default loopback, where `npm
   * start`, `npm run bench` and health checks come from). Per-user limits still apply to them. Behind
   * a load balancer the client address is the hop it added to X-Forwarded-For (TRUSTED_PROXIES), so
   * do not list the balancer's own address here.
   */
  LIMIT_EXEMPT_IPS: ipList.default(["127.0.0.1", "::1", "::ffff:127.0.0.1"]),
  /**
   * The proxies whose X-Forwarded-For is believed, by the API and the ws-nodes alike (addresses or
   * CIDR blocks, comma-separated): a request from one of them is attributed to the hop it added (read
   * from the right, past any other trusted proxy); from anyone else, to its own address. Default
   * loopback, a proxy on the same host. Behind HAProxy list HAProxy's address only
   * (docker-compose.yml pins it to 10.89.0.10), never a whole private network: any container there
   * could then name its own client address. deploy/haproxy.cfg sets X-Forwarded-For to the
   * connection's source, replacing the client's.
   */
  TRUSTED_PROXIES: cidrList.default(["127.0.0.0/8", "::1"]),
  /**
   * The ws-nodes decide the connect limits from memory, so an upgrade needs no Redis round trip:
   * each node adds its connects to the cluster-wide counts at most this often (at once after a
   * quiet spell) and tells the other nodes the totals. What one node hears of another's connects
   * lags by up to this much (plus a round trip), so a burst spread over the nodes can pass a connect
   * limit by what they let through meanwhile, at most nodes × limit (ARCHITECTURE.md, "The connect
   * path without an await").
   */
  LIMIT_SYNC_MS: int(100, 5),
  /**
   * Drain (SIGTERM): how long a ws-node answers /readyz 503 (and refuses upgrades) before it closes
   * its sockets. Keep it above the load balancer's detection time (deploy/haproxy.cfg: 3 s).
   */
  WS_DRAIN_NOTICE_MS: int(5000, 0),
  /** Drain: sockets closed (1001) per batch. */
  WS_DRAIN_BATCH: int(200, 1),
  /** Drain: the mean pause between batches (jittered ±50%). */
  WS_DRAIN_PAUSE_MS: int(100, 0),
  /** Drain: the longest wait for a closing socket's pushes in flight to be answered. */
  WS_DRAIN_INFLIGHT_MS: int(3000, 0),
  /**
   * `/metrics` of every app answers only `Authorization: Bearer <METRICS_TOKEN>` (Prometheus's
   * `authorization` setting); required in production, generated per run in development.
   * @default generated (required in production)
   */
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /**
   * The development payment provider (`/dev/pay`, `POST /api/dev/payments`: a buyer pays their own
   * order for free) is served only with DEV_PAYMENTS=1, which `npm start` sets outside production and
   * prints in its banner, so it is never on without being asked for. Refused in production.
   * @default `0` (`npm start` outside production: `1`)
   */
  DEV_PAYMENTS: z.enum(["0", "1"], { message: "must be 0 or 1" }).default("0").transform((v) => v === "1"),
  /**
   * The HMAC secret payment webhooks are signed with (`Payment-Signature: t=…,v1=…`).
   * @default generated
   */
  PAYMENT_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  /** How long a pending order waits for its payment, unless the event sets its own window. */
  PAYMENT_WINDOW_MS: int(900_000, 1000),
  /**
   * How long `POST /api/orders` (and a seat-map read) may take (ms). Past it the request fails with
   * 503 `database_unavailable` and Retry-After, and the order's transaction is fenced so it can no
   * longer commit.
   */
  ORDER_DEADLINE_MS: int(5000, 500),
  /** The currency of every price and payment (ISO 4217). */
  CURRENCY: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR").default("EUR"),
  /** Chat: how long before an event starts its room opens for messages (2 hours, as the original chat service had it). */
  CHAT_ACTIVATE_BEFORE_MS: int(7_200_000, 0),
  /** Longest chat message, in characters (Unicode code points). */
  CHAT_MAX_MESSAGE_LENGTH: int(2000, 1),
  /** Messages one user may post in one room per CHAT_RATE_WINDOW_MS (counted across all nodes). */
  CHAT_RATE: int(10, 1),
  /** The window of CHAT_RATE. */
  CHAT_RATE_WINDOW_MS: int(10_000, 100),
  /** At most one `user_typing` notice of each kind per user and room in this window. */
  CHAT_TYPING_THROTTLE_MS: int(1000, 0),
  /** Messages in a chat join reply, and the largest page a `history` push may ask for. */
  CHAT_HISTORY_LIMIT: int(50, 1),
  /** A ws-node whose presence heartbeat is older than this is dead: its users leave every room. */
  CHAT_PRESENCE_TTL_MS: int(5000, 500),
  /**
   * Chat at concert scale: a node stores a room's messages in groups (one multi-row INSERT and one
   * sequence step per group) of at most this many.
   */
  CHAT_BATCH_MAX: int(200, 1),
  /**
   * When a room's next group is already full (CHAT_BATCH_MAX) and a new message would wait longer
   * than this, it is refused at once with `rate_limited` and `retry_after_ms` instead of an ack that
   * comes seconds later.
   */
  CHAT_QUEUE_MAX_MS: int(50, 1),
  /**
   * Delivery tick: presence changes (every room) and, for members who joined with `{"batch": true}`,
   * messages are sent once per tick per room.
   */
  CHAT_TICK_MS: int(50, 5),
  /** Above this many people online, a room sends the online count and the presence of its speakers, not the whole list. */
  CHAT_PRESENCE_LIST_MAX: int(500, 1),
  /** How often each node re-checks its members' tickets (a refunded member is removed from the room). */
  CHAT_TICKET_RECHECK_MS: int(5000, 100),
});

export type Config = Omit<z.infer<typeof schema>, "JWT_SECRET" | "SERVICE_SECRET" | "ADMIN_PASSWORD" | "PAYMENT_WEBHOOK_SECRET" | "METRICS_TOKEN"> & {
  METRICS_TOKEN: string;
  JWT_SECRET: string;
  SERVICE_SECRET: string;
  ADMIN_PASSWORD: string;
  PAYMENT_WEBHOOK_SECRET: string;
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

const devSecrets = new Map<string, string>();
/**
 * Secrets a production process refuses when they are placeholders or short (docs/reliability.md,
 * round two, finding 6).
 */
const SECRETS = ["JWT_SECRET", "SERVICE_SECRET", "PAYMENT_WEBHOOK_SECRET", "METRICS_TOKEN"] as const;
/** The shortest secret production accepts, in bytes: 256 bits, as HS256 wants. */
const MIN_SECRET_BYTES = 32;

/**
 * Refuses, naming the variable, a secret that is a placeholder (`change-me…`, as the compose file
 * used to ship: a production cluster started and served with them) or shorter than 32 bytes, and an
 * admin password that is a placeholder.
 */
function refuseWeakSecrets(c: Record<string, unknown>): void {
  const placeholder = (v: string) => /^change[-_ ]?me/i.test(v);
  for (const name of SECRETS) {
    const v = c[name];
    if (typeof v !== "string") continue;
    if (placeholder(v)) throw new ConfigError(`${name} is a placeholder ("change-me…"); set a random secret of at least ${MIN_SECRET_BYTES} bytes (deploy/make-secrets.sh writes them) when NODE_ENV=production`);
    if (Buffer.byteLength(v) < MIN_SECRET_BYTES) throw new ConfigError(`${name} is ${Buffer.byteLength(v)} bytes; production needs at least ${MIN_SECRET_BYTES} random bytes (deploy/make-secrets.sh writes them)`);
  }
  if (typeof c.ADMIN_PASSWORD === "string" && placeholder(c.ADMIN_PASSWORD)) throw new ConfigError('ADMIN_PASSWORD is a placeholder ("change-me…"); choose a real one when NODE_ENV=production');
}

/**
 * Development gets a random secret per process tree (shared through the environment), production
 * must set it.
 */
function secret(env: NodeJS.ProcessEnv, name: string, production: boolean): string {
  const v = env[name];
  if (v) return v;
  if (production) throw new ConfigError(`${name} is required when NODE_ENV=production`);
  let s = devSecrets.get(name);
  if (!s) {
    s = randomBytes(24).toString("base64url");
    devSecrets.set(name, s);
    env[name] = s; // child processes started by `npm start` inherit the same secret
  }
  return s;
}

/** A bad value as an error message may show it: secrets hidden, passwords in URLs masked (logs keep messages). */
function shown(name: string, value: string | undefined): string {
  if (value === undefined) return "(unset)";
  if (/SECRET|PASSWORD|TOKEN|KEY/.test(name)) return `(hidden, ${value.length} characters)`;
  return JSON.stringify(value.replace(/([^:@/\s]+):[^@/\s]*@/, "$1:***@"));
}

/** Reads and validates the environment; throws a ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `  ${i.path.join(".")}=${shown(name, env[name])}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  const production = c.NODE_ENV === "production";
  if (production) refuseWeakSecrets(c);
  if (production && c.DEV_PAYMENTS) throw new ConfigError("DEV_PAYMENTS=1 is refused when NODE_ENV=production: the development payment provider lets any buyer pay their own order for free");
  // With an identity provider the cluster still signs its own tokens (sign-in, admins, services) and
  // every process must verify them: a secret generated per process would make API tokens fail on
  // the ws-nodes.
  if (production && !c.JWT_SECRET && c.JWKS_URL)
    throw new ConfigError(
      "JWT_SECRET is required when NODE_ENV=production, also with JWKS_URL: the API signs this cluster's own tokens and every ws-node verifies them with the same secret",
    );
  return {
    ...c,
    JWT_SECRET: c.JWT_SECRET ?? secret(env, "JWT_SECRET", production),
    SERVICE_SECRET: c.SERVICE_SECRET ?? secret(env, "SERVICE_SECRET", production),
    ADMIN_PASSWORD: c.ADMIN_PASSWORD ?? secret(env, "ADMIN_PASSWORD", production),
    PAYMENT_WEBHOOK_SECRET: c.PAYMENT_WEBHOOK_SECRET ?? secret(env, "PAYMENT_WEBHOOK_SECRET", production),
    METRICS_TOKEN: c.METRICS_TOKEN ?? secret(env, "METRICS_TOKEN", production),
  };
}
