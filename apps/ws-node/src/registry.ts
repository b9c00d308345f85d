import type { Conn } from "./conn.ts";

/**
 * Which local connections watch which event, and which of them belong to which user: what fan-out
 * needs to exclude an author or a hold's owner, and what liveness reports to Redis.
 */
export class LocalRegistry {
  readonly conns = new Map<number, Conn>();
  private byEvent = new Map<string, Set<Conn>>();
  private byEventUser = new Map<string, Set<Conn>>();

  watchers(eventId: string): ReadonlySet<Conn> {
    return this.byEvent.get(eventId) ?? empty;
  }

  ofUser(eventId: string, userId: string): ReadonlySet<Conn> {
    return this.byEventUser.get(`${eventId}|${userId}`) ?? empty;
  }

  /** Returns true when this is the user's first connection to the event on this node. */
  add(eventId: string, conn: Conn): boolean {
    let s = this.byEvent.get(eventId);
    if (!s) this.byEvent.set(eventId, (s = new Set()));
    s.add(conn);
    if (!conn.userId) return false;
    const key = `${eventId}|${conn.userId}`;
    let u = this.byEventUser.get(key);
    if (!u) this.byEventUser.set(key, (u = new Set()));
    u.add(conn);
    return u.size === 1;
  }

  /** Returns true when this was the user's last connection to the event on this node. */
  remove(eventId: string, conn: Conn): boolean {
    const s = this.byEvent.get(eventId);
    if (s?.delete(conn) && s.size === 0) this.byEvent.delete(eventId);
    if (!conn.userId) return false;
    const key = `${eventId}|${conn.userId}`;
    const u = this.byEventUser.get(key);
    if (!u?.delete(conn)) return false;
    if (u.size > 0) return false;
    this.byEventUser.delete(key);
    return true;
  }

  /** Every event some local connection watches (for the node's hold sweep). */
  watchedEvents(): IterableIterator<string> {
    return this.byEvent.keys();
  }

  /** (eventId, userIds) of every user with a local connection, for the liveness refresh. */
  liveUsers(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const key of this.byEventUser.keys()) {
      const i = key.indexOf("|");
      const eventId = key.slice(0, i);
      let list = out.get(eventId);
      if (!list) out.set(eventId, (list = []));
      list.push(key.slice(i + 1));
    }
    return out;
  }
}

const empty: ReadonlySet<Conn> = new Set();
