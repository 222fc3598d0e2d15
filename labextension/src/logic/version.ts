/** The version handshake with the server extension (GET /trevor/version). */
import { EXTENSION_API, FRONTEND_VERSION } from '../version';
import type { VersionInfo } from './types';

export interface Compatibility {
  ok: boolean;
  /** Shown to the user when not ok, or as a notice (e.g. no backend configured). */
  message: string | null;
}

export function checkCompatibility(
  server: Partial<VersionInfo> | null,
  client = { api: EXTENSION_API, version: FRONTEND_VERSION }
): Compatibility {
  if (!server || typeof server.api !== 'string') {
    return {
      ok: false,
      message:
        'The jupyter_trevor server extension is not running in this Jupyter server. ' +
        'Ask your administrator to install and enable jupyter-trevor on the server.'
    };
  }
  if (server.api !== client.api) {
    return {
      ok: false,
      message:
        `The Airlock panel (${client.version}, API ${client.api}) does not match the ` +
        `jupyter_trevor server extension (${server.version ?? '?'}, API ${server.api}). ` +
        'Reinstall jupyter-trevor so both sides have the same version, then reload the page.'
    };
  }
  if (!server.backend_configured) {
    return {
      ok: true,
      message:
        'No trevor backend is configured for this server (TREVOR_BACKEND_URL), so requests ' +
        'cannot be made. Tagged outputs are still listed.'
    };
  }
  if (server.version && server.version !== client.version) {
    return {
      ok: true,
      message: `Note: panel ${client.version}, server extension ${server.version}.`
    };
  }
  return { ok: true, message: null };
}
