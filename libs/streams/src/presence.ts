import type { PresenceMap, PresenceMeta } from "@seatdrop/protocol";

/** One presence entry: one per joined connection (several tabs of one user are several), with its user. */
export type PresenceEntry = PresenceMeta & { user_id: string };

/**
 * Who is present in a stream, as of the stream's position: loaded from an atomic snapshot, then
 * changed by every presence diff the stream carries, in order (the chat room feed keeps one, and
 * a join's `presence_state` is read from it rather than from Redis). Entries are keyed by
 * `phx_ref` and grouped by user, in Phoenix's presence shape.
 */
export class PresenceSet {
  private readonly byRef = new Map<string, PresenceEntry>();
  private readonly byUser = new Map<string, Map<string, PresenceEntry>>();

  /** Starts over from a snapshot's entries. */
  load(entries: Iterable<PresenceEntry>): void {
    this.byRef.clear();
    this.byUser.clear();
    for (const e of entries) this.add(e);
  }

  /** Applies a diff: `joins` added, then `leaves` removed (by `phx_ref`). */
  apply(joins: PresenceMap, leaves: PresenceMap): void {
    for (const [user_id, { metas }] of Object.entries(joins)) for (const meta of metas) this.add({ ...meta, user_id });
    for (const { metas } of Object.values(leaves)) for (const meta of metas) this.remove(meta.phx_ref);
  }

  /** Distinct users present. */
  get users(): number {
    return this.byUser.size;
  }

  /** Entries (connections) present. */
  get size(): number {
    return this.byRef.size;
  }

  /** The presence of the users given (all of them when none are), in Phoenix's shape. */
  view(only?: Iterable<string>): PresenceMap {
    const out: PresenceMap = {};
    for (const userId of only ?? this.byUser.keys()) Object.assign(out, this.metasOf(userId));
    return out;
  }

  /** One user's metas now; empty when they are not present. */
  metasOf(userId: string): PresenceMap {
    const entries = this.byUser.get(userId);
    if (!entries) return {};
    const metas = [];
    for (const { user_id: _u, ...meta } of entries.values()) metas.push(meta);
    return { [userId]: { metas } };
  }

  private add(e: PresenceEntry): void {
    if (this.byRef.has(e.phx_ref)) return;
    this.byRef.set(e.phx_ref, e);
    let mine = this.byUser.get(e.user_id);
    if (!mine) this.byUser.set(e.user_id, (mine = new Map()));
    mine.set(e.phx_ref, e);
  }

  private remove(phxRef: string): void {
    const e = this.byRef.get(phxRef);
    if (!e) return;
    this.byRef.delete(phxRef);
    const mine = this.byUser.get(e.user_id);
    mine?.delete(phxRef);
    if (mine?.size === 0) this.byUser.delete(e.user_id);
  }
}
