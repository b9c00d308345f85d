import { parse } from "csv-parse/sync";
import { SEAT_ID_RE } from "@seatdrop/protocol";
import { validationFailed, type FieldError } from "../errors.ts";
import { MAX_PRICE, MAX_SEATS_PER_EVENT, type SeatInput } from "../schemas/event.ts";

/** The columns a seat-map CSV may have; `price` is required, and `id` or `row` with `number`. */
export const SEAT_MAP_COLUMNS = ["section", "row", "number", "price", "id"] as const;
const MAX_ERRORS = 50;
const PRICE_RE = /^\d{1,8}(\.\d{1,2})?$/;

/**
 * A box office's seat map as CSV, one seat per line under a header row (section,row,number,price,id;
 * any order, `id` optional): the seats `POST /api/events` takes, or a 422 naming each bad line and
 * column ("line 14, price"). Without an id column a seat's id is `<section>_<row>_<number>` (or
 * `<row>_<number>`), spaces and other characters a seat id may not have turned into `-`.
 */
export function parseSeatMapCsv(text: string): SeatInput[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, trim: true, skip_empty_lines: true, info: true, relax_column_count: false });
  } catch (err) {
    const e = err as { message: string; lines?: number };
    throw validationFailed([{ field: e.lines ? `line ${e.lines}` : "csv", message: e.message }]);
  }
  if (records.length === 0) throw validationFailed([{ field: "csv", message: "no seats: a header row (section,row,number,price,id) and one line per seat" }]);
  const header = Object.keys(records[0]!.record);
  const unknown = header.filter((c) => !(SEAT_MAP_COLUMNS as readonly string[]).includes(c));
  const errors: FieldError[] = unknown.map((c) => ({ field: "line 1", message: `unknown column ${JSON.stringify(c)}; the columns are ${SEAT_MAP_COLUMNS.join(", ")}` }));
  if (!header.includes("price")) errors.push({ field: "line 1", message: "a price column is required" });
  if (!header.includes("id") && !(header.includes("row") && header.includes("number"))) errors.push({ field: "line 1", message: "give an id column, or row and number columns to make the ids from" });
  if (records.length > MAX_SEATS_PER_EVENT) errors.push({ field: "csv", message: `${records.length} seats; an event has at most ${MAX_SEATS_PER_EVENT}` });
  if (errors.length > 0) throw validationFailed(errors);
  const seats: SeatInput[] = [];
  const firstLine = new Map<string, number>();
  for (const { record, info } of records) {
    const seat = seatOf(record, info.lines, errors);
    if (!seat) continue;
    const seen = firstLine.get(seat.id);
    if (seen !== undefined) errors.push({ field: `line ${info.lines}, id`, message: `duplicate seat id ${seat.id} (first on line ${seen})` });
    else firstLine.set(seat.id, info.lines);
    seats.push(seat);
    if (errors.length >= MAX_ERRORS) break;
  }
  if (errors.length > 0) throw validationFailed(errors.slice(0, MAX_ERRORS));
  return seats;
}

/** One line's seat, or null with its errors pushed (each naming the line and the column). */
function seatOf(r: Record<string, string>, line: number, errors: FieldError[]): SeatInput | null {
  const bad = (column: string, message: string) => {
    errors.push({ field: `line ${line}, ${column}`, message });
    return null;
  };
  const section = r.section || undefined, row = r.row || undefined;
  if (section && section.length > 64) return bad("section", "at most 64 characters");
  if (row && row.length > 64) return bad("row", "at most 64 characters");
  let number: number | undefined;
  if (r.number) {
    if (!/^\d{1,9}$/.test(r.number)) return bad("number", `must be a whole number, not ${JSON.stringify(r.number)}`);
    number = Number(r.number);
  }
  if (!r.price) return bad("price", "is empty");
  if (!PRICE_RE.test(r.price)) return bad("price", `must be a price like 45 or 45.50 (at most 2 decimals), not ${JSON.stringify(r.price)}`);
  const price = Number(r.price);
  if (price > MAX_PRICE) return bad("price", `at most ${MAX_PRICE}`);
  let id = r.id;
  if (!id) {
    if (!row || number === undefined) return bad("id", "is empty, and there is no row and number to make it from");
    id = [section, row, String(number)].filter(Boolean).join("_").replace(/[^A-Za-z0-9_.:-]/g, "-");
  }
  if (!SEAT_ID_RE.test(id)) return bad("id", `${JSON.stringify(id)} is not a seat id (1–64 of A–Z a–z 0–9 _ . : -)`);
  return { id, ...(section ? { section } : {}), ...(row ? { row } : {}), ...(number !== undefined ? { number } : {}), price };
}
