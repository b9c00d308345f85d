import { ChatError } from "./errors.ts";

/** The content types a message may declare (the chat service's `content_type`, default `text`); both are plain text to render. */
export const CONTENT_TYPES = ["text", "markdown"] as const;
export type ContentType = (typeof CONTENT_TYPES)[number];

/**
 * NUL cannot be stored in a PostgreSQL text column (the insert would fail after the rate limit
 * counted it), and other C0 controls except tab and newlines only garble other people's screens.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * Checks a `new_message` payload: `content` a non-blank string of at most `maxLength` characters
 * (code points, so an emoji counts once), `content_type` one of {@link CONTENT_TYPES}. Throws a
 * {@link ChatError} naming the field.
 */
export function checkMessage(payload: Record<string, unknown>, maxLength: number): { content: string; contentType: ContentType } {
  const { content, content_type: contentType = "text" } = payload;
  if (typeof content !== "string")
    throw new ChatError("malformed_payload", "content must be text (a string)", { field: "content" });
  if (content.trim().length === 0) throw new ChatError("empty_content", "content must not be empty", { field: "content" });
  // Counting code points only when the UTF-16 length could be over the limit keeps the common case cheap.
  if (content.length > maxLength && [...content].length > maxLength)
    throw new ChatError("content_too_long", `content is longer than ${maxLength} characters`, { field: "content", max: maxLength });
  if (FORBIDDEN_CONTROLS.test(content))
    throw new ChatError("invalid_content", "content must not contain control characters other than tab and newline", { field: "content" });
  if (typeof contentType !== "string" || !(CONTENT_TYPES as readonly string[]).includes(contentType))
    throw new ChatError("malformed_payload", `content_type must be one of ${CONTENT_TYPES.join(", ")}`, { field: "content_type" });
  return { content, contentType: contentType as ContentType };
}

/** Event, user and message ids on the wire are lower-case UUIDs; the pattern's one home is libs/protocol (ids.ts). */
export { isUuid as isLowerUuid } from "@seatdrop/protocol";
