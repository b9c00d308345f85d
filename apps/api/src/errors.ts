/** One invalid input field, named by its path in the request (`user_params.email`, `seats[3].id`). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error the API answers on purpose, with an HTTP status and a stable machine-readable `code`.
 * The error handler turns it into `{"error": code, "message": ..., ...extra}`; anything that is not
 * an ApiError is a bug or an outage and becomes a logged 500.
 */
export class ApiError extends Error {
  override name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra fields of the response body, e.g. `field` for a conflict or `errors` for a 422. */
    readonly extra: { field?: string; errors?: FieldError[] } = {},
  ) {
    super(message);
  }
}

/** 422 naming every invalid field. */
export function validationFailed(errors: FieldError[]): ApiError {
  const first = errors[0];
  const message = first ? `${first.field}: ${first.message}` : "the request is not valid";
  return new ApiError(422, "validation_failed", message, { errors });
}

/** 409 naming the field whose value is already taken. */
export function conflict(field: string, message: string): ApiError {
  return new ApiError(409, "conflict", message, { field });
}

export function notFound(what: string): ApiError {
  return new ApiError(404, "not_found", `${what} not found`);
}

/** 401 for a request that carries no credentials at all. */
export function unauthorized(): ApiError {
  return new ApiError(401, "unauthorized", "this route needs an Authorization: Bearer <token> header");
}

export function forbidden(message = "your role does not allow this"): ApiError {
  return new ApiError(403, "forbidden", message);
}
