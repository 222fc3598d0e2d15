/**
 * What this frontend expects of the server extension. The server answers GET /trevor/version
 * with its own values; a mismatch is shown to the user instead of failing in odd ways later.
 * Keep EXTENSION_API equal to jupyter_trevor.handlers.EXTENSION_API (a Python test checks).
 */
export const EXTENSION_API = '1';
export const FRONTEND_VERSION = '0.1.0';
