/**
 * Phoenix channel topics (the stock Phoenix clients join them unmodified): `seats:<eventId>` seat
 * map, `event:<eventId>` chat, `user:<userId>` notifications, `queue:<eventId>` the event's
 * waiting room.
 */
export type ParsedTopic = { kind: "seats"; eventId: string } | { kind: "event"; eventId: string } | { kind: "user"; userId: string } | { kind: "queue"; eventId: string };

export function parseTopic(topic: string): ParsedTopic | null {
  const i = topic.indexOf(":");
  if (i <= 0) return null;
  const kind = topic.slice(0, i);
  const id = topic.slice(i + 1);
  if (!id) return null;
  if (kind === "seats") return { kind, eventId: id };
  if (kind === "event") return { kind, eventId: id };
  if (kind === "user") return { kind, userId: id };
  if (kind === "queue") return { kind, eventId: id };
  return null;
}

export const seatsTopic = (eventId: string) => `seats:${eventId}`;

/** uWS topic names inside a node: one per dialect, since each dialect's frames are encoded once for all. */
export const uwsTopic = {
  phxSeats: (eventId: string) => `p|seats:${eventId}`,
  seedSeats: (eventId: string) => `s|${eventId}`,
  /** Coalesced `changes` frames: one topic per stream, the whole event or one section of it. */
  phxChanges: (eventId: string, section?: string) => (section === undefined ? `c|${eventId}` : `c|${eventId}|${section}`),
};
