/**
 * Live request updates from GET /trevor/events (the server extension relays the backend's
 * server-sent events). Read with fetch through ServerConnection so Jupyter's token auth applies
 * (EventSource cannot send headers); reconnects with backoff, resuming from Last-Event-ID.
 */
import { SSEParser, type ServerEvent } from '../logic/events';
import { describeError } from '../problem';
import { requestRaw } from '../request';

export interface LiveOptions {
  onEvent: (ev: ServerEvent) => void;
  onState: (state: 'connecting' | 'live' | 'offline', detail?: string) => void;
}

export class LiveEvents {
  private controller: AbortController | null = null;
  private stopped = false;
  private lastId: string | undefined;
  private delay = 1000;

  constructor(private readonly options: LiveOptions) {}

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.options.onState('connecting');
      this.controller = new AbortController();
      try {
        const headers: Record<string, string> = { Accept: 'text/event-stream' };
        if (this.lastId) {
          headers['Last-Event-ID'] = this.lastId;
        }
        const response = await requestRaw('events', {
          headers,
          signal: this.controller.signal
        });
        const reader = response.body?.getReader();
        if (!reader) {
          throw new Error('This browser cannot stream responses');
        }
        this.options.onState('live');
        this.delay = 1000;
        const parser = new SSEParser();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            break;
          }
          for (const ev of parser.feed(decoder.decode(value, { stream: true }))) {
            if (ev.retry) {
              this.delay = ev.retry;
            }
            this.lastId = ev.id ?? this.lastId;
            this.options.onEvent(ev);
          }
        }
        this.options.onState('offline', 'The event stream ended; reconnecting.');
      } catch (error) {
        if (this.stopped) {
          return;
        }
        this.options.onState('offline', describeError(error));
      }
      await new Promise(resolve => setTimeout(resolve, this.delay));
      this.delay = Math.min(this.delay * 2, 60_000);
    }
  }
}
