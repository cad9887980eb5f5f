// The one way JetStream reports failures: an ApiError built from the catalogue entry by
// name, with `{placeholder}` values substituted. It is thrown by validation and apply code
// and turned into the `error` object of the API response (or a PubAck error) at the edge.
import { JS_ERRORS, type JsErrorName } from "./error_catalogue.js";

export { JS_ERRORS, type JsErrorName } from "./error_catalogue.js";

export interface ApiErrorJson {
  code: number;
  err_code: number;
  description: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly errCode: number,
    readonly description: string,
  ) {
    super(description);
  }

  toJSON(): ApiErrorJson {
    return { code: this.code, err_code: this.errCode, description: this.description };
  }
}

/** Build the catalogue error `name`, filling `{key}` placeholders from `params`. */
export function jsError(name: JsErrorName, params?: Record<string, string | number>): ApiError {
  const e = JS_ERRORS[name];
  let text: string = e.description;
  if (params !== undefined) {
    text = text.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
  }
  return new ApiError(e.code, e.err_code, text);
}

/** Wrap an unexpected exception into an error of a catalogue "{err}" entry. */
export function asApiError(err: unknown, fallback: JsErrorName): ApiError {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return jsError(fallback, { err: msg });
}
