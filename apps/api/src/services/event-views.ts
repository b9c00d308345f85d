import type { Config } from "@seatdrop/config";
import type { WaitingRoomRecord } from "@seatdrop/db";
import { resolveHoldSettings } from "@seatdrop/seats";
import type { EventSummaryView, EventView, SeatView, WaitingRoomView } from "../schemas/event.ts";
import type { SavedEvent, SeatRow } from "./create-event.ts";
import type { EventSummary } from "./read-events.ts";

type HoldDefaults = Pick<Config, "HOLD_TTL_MS" | "HOLD_MAX_SEATS" | "HOLD_GRACE_MS" | "HOLD_MAX_EXTENSIONS" | "PAYMENT_WINDOW_MS">;

/** The event as the API shows it: snake_case, settings resolved against the cluster defaults. */
export function toEventView(saved: Pick<SavedEvent, "event" | "seatCount"> & { chatRoom: SavedEvent["chatRoom"] | null }, config: HoldDefaults): EventView {
  const { event } = saved;
  const settings = resolveHoldSettings(event, config);
  const view: EventView = {
    id: event.id,
    name: event.name,
    description: event.description,
    location: event.location,
    start_time: event.startTime.toISOString(),
    end_time: event.endTime.toISOString(),
    hold_ttl_ms: settings.holdTtlMs,
    hold_max_seats: settings.holdMaxSeats,
    hold_grace_ms: settings.holdGraceMs,
    hold_max_extensions: settings.holdMaxExtensions,
    sales_open_at: event.salesOpenAt?.toISOString() ?? null,
    sales_close_at: event.salesCloseAt?.toISOString() ?? null,
    max_seats_per_user: event.maxSeatsPerUser ?? null,
    payment_window_ms: event.paymentWindowMs ?? config.PAYMENT_WINDOW_MS,
    sales_paused: event.salesPausedAt !== null && event.salesPausedAt !== undefined,
    seat_count: saved.seatCount,
    waiting_room: toWaitingRoomView(event.waitingRoom),
    inserted_at: event.insertedAt.toISOString(),
  };
  if (saved.chatRoom) view.chat_room = { id: saved.chatRoom.id, status: saved.chatRoom.status };
  return view;
}

/**
 * The room as anyone may see it: settings, commitment and challenge. Never the seed: it stays secret
 * until the draw (`GET /api/events/:id/waiting_room/draw` publishes it then), or the order could be
 * computed in advance.
 */
export function toWaitingRoomView(room: WaitingRoomRecord | null): WaitingRoomView | null {
  if (!room) return null;
  return {
    opens_at: new Date(room.opens_at).toISOString(),
    turn_ms: room.turn_ms,
    max_active: room.max_active ?? null,
    pow_bits: room.pow_bits ?? 0,
    commitment: room.commitment,
    challenge: room.challenge,
  };
}

/** A seat with its price back in major units; absent section/row/number are left out, not null. */
export function toSeatView(seat: SeatRow): SeatView {
  const view: SeatView = { id: seat.seatId, price: seat.priceCents / 100 };
  if (seat.section !== null) view.section = seat.section;
  if (seat.row !== null) view.row = seat.row;
  if (seat.number !== null) view.number = seat.number;
  return view;
}

export function toEventSummaryView(e: EventSummary): EventSummaryView {
  return {
    id: e.id,
    name: e.name,
    location: e.location,
    start_time: e.startTime.toISOString(),
    end_time: e.endTime.toISOString(),
    seat_count: e.seatCount,
    waiting_room: toWaitingRoomView(e.waitingRoom),
  };
}
