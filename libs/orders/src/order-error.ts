/**
 * An order operation refused, with the HTTP status it maps to, a machine code and (for bad input)
 * the field at fault. The API turns it into `{"error": code, "message", "field"?}`.
 */
export class OrderError extends Error {
  override name = "OrderError";
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 422 | 503,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}
