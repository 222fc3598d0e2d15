/**
 * The one way the frontend calls the server: `requestAPI` under `<base_url>/trevor/`, through
 * Jupyter's ServerConnection (same origin, Jupyter's auth and XSRF handling). The browser never
 * calls the trevor backend itself; `/trevor/api/*` is the server extension's proxy to it.
 * Every failure becomes a TrevorAPIError carrying the problem+json, so callers show it.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { toProblem, TrevorAPIError } from './problem';

export function trevorUrl(endPoint: string, settings?: ServerConnection.ISettings): string {
  const s = settings ?? ServerConnection.makeSettings();
  return URLExt.join(s.baseUrl, 'trevor', endPoint);
}

/** Raw Response for endpoints that are not JSON (event stream, file content). */
export async function requestRaw(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Response> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(trevorUrl(endPoint, settings), init, settings);
  } catch (error) {
    throw new TrevorAPIError({
      type: 'about:blank',
      title: 'Cannot reach the Jupyter server',
      status: 0,
      detail: error instanceof Error ? error.message : String(error)
    });
  }
  if (!response.ok) {
    const text = await response.text().catch(() => '');
    throw new TrevorAPIError(toProblem(response.status, response.statusText, text));
  }
  return response;
}

export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings?: ServerConnection.ISettings
): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  const response = await requestRaw(endPoint, { ...init, headers }, settings);
  if (response.status === 204) {
    return undefined as T;
  }
  const text = await response.text();
  if (!text) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new TrevorAPIError({
      type: 'about:blank',
      title: 'Unexpected response',
      status: response.status,
      detail: `Not JSON: ${text.slice(0, 200)}`
    });
  }
}
