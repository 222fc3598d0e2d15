import { describeError, toProblem, TrevorAPIError } from '../problem';
import { checkCompatibility } from '../logic/version';

describe('problems', () => {
  it('keeps a problem+json body as sent, field errors included', () => {
    const body = JSON.stringify({
      type: 'https://trevor.invalid/problems/validation',
      title: 'Invalid input',
      status: 422,
      detail: 'bad',
      errors: [{ pointer: '/title', detail: 'too long' }],
      current_state: 'DRAFT'
    });
    const err = new TrevorAPIError(toProblem(422, 'Unprocessable', body));
    expect(err.status).toBe(422);
    expect(err.problem.current_state).toBe('DRAFT');
    expect(err.fieldErrors()).toEqual({ '/title': 'too long' });
    expect(describeError(err)).toBe('Invalid input — bad — /title: too long');
  });

  it('wraps Jupyter errors and plain text', () => {
    expect(toProblem(403, 'Forbidden', '{"message": "nope", "reason": null}')).toEqual({
      type: 'about:blank',
      title: 'Forbidden',
      status: 403,
      detail: 'nope'
    });
    expect(toProblem(500, '', '<html>boom</html>').detail).toBe('<html>boom</html>');
    expect(describeError(new Error('x'))).toBe('x');
  });
});

describe('version handshake', () => {
  const client = { api: '1', version: '0.1.0' };
  it('accepts a matching server', () => {
    expect(checkCompatibility({ api: '1', version: '0.1.0', backend_configured: true }, client)).toEqual({
      ok: true,
      message: null
    });
  });
  it('explains an API mismatch', () => {
    const c = checkCompatibility({ api: '2', version: '0.2.0', backend_configured: true }, client);
    expect(c.ok).toBe(false);
    expect(c.message).toMatch(/does not match.*API 2/);
  });
  it('explains a missing server extension and a missing backend', () => {
    expect(checkCompatibility(null, client).ok).toBe(false);
    const c = checkCompatibility({ api: '1', version: '0.1.0', backend_configured: false }, client);
    expect(c.ok).toBe(true);
    expect(c.message).toMatch(/TREVOR_BACKEND_URL/);
  });
});
