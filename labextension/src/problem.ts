/**
 * RFC 9457 problem details, as the backend and the server extension send them, and the one
 * error type the frontend throws for a failed call. Pure (no JupyterLab imports) so jest tests
 * it directly.
 */

export interface FieldError {
  pointer: string;
  detail: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [key: string]: unknown;
}

export class TrevorAPIError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'TrevorAPIError';
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }

  /** Field errors by JSON pointer, for showing next to form inputs. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) {
      out[e.pointer] = e.detail;
    }
    return out;
  }
}

function isProblemLike(value: unknown): value is Partial<Problem> {
  return (
    typeof value === 'object' && value !== null && ('title' in value || 'detail' in value) && !Array.isArray(value)
  );
}

/** A problem from an error response: its own problem+json body, or one wrapping the text. */
export function toProblem(status: number, statusText: string, body: string): Problem {
  let parsed: unknown = undefined;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }
  if (isProblemLike(parsed)) {
    return {
      ...parsed,
      type: String(parsed.type ?? 'about:blank'),
      title: String(parsed.title ?? statusText ?? 'Error'),
      status: Number(parsed.status ?? status),
      detail: String(parsed.detail ?? '')
    } as Problem;
  }
  // Jupyter's own errors are {message, reason}; anything else is shown as text.
  const message =
    typeof parsed === 'object' && parsed !== null && 'message' in parsed
      ? String((parsed as { message: unknown }).message)
      : body.slice(0, 500);
  return {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    detail: message
  };
}

/** One line for the user: title, detail and field errors; never "[object Object]". */
export function describeError(err: unknown): string {
  if (err instanceof TrevorAPIError) {
    const p = err.problem;
    const parts = [p.title];
    if (p.detail && p.detail !== p.title) {
      parts.push(p.detail);
    }
    for (const e of p.errors ?? []) {
      parts.push(`${e.pointer || '(body)'}: ${e.detail}`);
    }
    return parts.join(' — ');
  }
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}
