/**
 * Live updates: a parser for the text/event-stream the server extension relays from the
 * backend's /api/v1/events, and the reducer that applies events to the panel's request list.
 *
 * The panel reads the stream with fetch (through Jupyter's ServerConnection, so token auth
 * works without cookies) rather than EventSource, which cannot send headers; hence its own
 * parser, following the WHATWG event-stream rules (fields, multi-line data, comments, id).
 */
import type { RequestOut } from './types';

export interface ServerEvent {
  id?: string;
  event: string;
  data: string;
  retry?: number;
}

export class SSEParser {
  private buffer = '';
  private data: string[] = [];
  private eventType = '';
  private lastId: string | undefined;
  private retry: number | undefined;

  /** The id of the last complete event (sent back as Last-Event-ID on reconnect). */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  /** Feed a chunk of text; returns the events it completed. */
  feed(chunk: string): ServerEvent[] {
    this.buffer += chunk;
    const events: ServerEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) {
        break;
      }
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) {
        break;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const ev = this.line(line);
      if (ev) {
        events.push(ev);
      }
    }
    return events;
  }

  private line(line: string): ServerEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.eventType = '';
        return null;
      }
      const ev: ServerEvent = {
        event: this.eventType || 'message',
        data: this.data.join('\n'),
        id: this.lastId
      };
      if (this.retry !== undefined) {
        ev.retry = this.retry;
      }
      this.data = [];
      this.eventType = '';
      return ev;
    }
    if (line.startsWith(':')) {
      return null; // comment / heartbeat
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retry = Number(value);
        }
        break;
    }
    return null;
  }
}

export interface RequestsState {
  requests: RequestOut[];
}

export interface Applied {
  state: RequestsState;
  /** Request ids whose details must be fetched again (the event did not carry them). */
  refresh: string[];
  /** Whether the outputs or inbox lists may have changed. */
  refreshInbox: boolean;
}

interface EventPayload {
  type?: string;
  request_id?: string;
  request?: RequestOut;
  status?: string;
  [key: string]: unknown;
}

function parsePayload(ev: ServerEvent): EventPayload | null {
  try {
    const value = JSON.parse(ev.data);
    return typeof value === 'object' && value !== null ? (value as EventPayload) : null;
  } catch {
    return null;
  }
}

/**
 * Apply one event. A full request in the payload replaces the listed one (or is added); a bare
 * status updates it and asks for a refresh (objects or feedback may have changed too); any
 * other request-scoped event asks for a refresh; deliveries ask for an inbox refresh.
 */
export function applyEvent(state: RequestsState, ev: ServerEvent): Applied {
  const payload = parsePayload(ev);
  const type = (payload?.type as string | undefined) ?? ev.event;
  const none: Applied = { state, refresh: [], refreshInbox: false };
  if (!payload) {
    return none;
  }
  const refreshInbox = type.startsWith('delivery.') || type.startsWith('ingress.');
  const full = payload.request;
  if (full && typeof full === 'object' && typeof full.id === 'string') {
    const exists = state.requests.some(r => r.id === full.id);
    const requests = exists ? state.requests.map(r => (r.id === full.id ? full : r)) : [full, ...state.requests];
    return { state: { requests }, refresh: [], refreshInbox };
  }
  const rid = payload.request_id;
  if (typeof rid !== 'string') {
    return { ...none, refreshInbox };
  }
  let requests = state.requests;
  if (typeof payload.status === 'string') {
    const status = payload.status as RequestOut['status'];
    requests = state.requests.map(r => (r.id === rid ? { ...r, status } : r));
  }
  return { state: { requests }, refresh: [rid], refreshInbox };
}
