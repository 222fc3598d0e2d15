/**
 * The checker's side of the panel, outside React so it works while the sidebar is closed: who
 * the user is, whether they check anything, the review queue, and the count on the Airlock
 * tab. The queue is fetched again when the event stream says something happened to a request
 * (no polling loop).
 */
import type { Title, Widget } from '@lumino/widgets';
import { Signal, type ISignal } from '@lumino/signaling';

import type { ReviewQueueItem, UserMe } from '../contract.gen';
import { LiveEvents } from '../panel/live';
import { describeError } from '../problem';
import { reviewApi } from './api';
import { affectsQueue, badgeText, isChecker, sortQueue } from './queue';

export interface QueueState {
  me: UserMe | null;
  checker: boolean;
  items: ReviewQueueItem[] | null;
  error: string | null;
}

export class ReviewModel {
  private _state: QueueState = { me: null, checker: false, items: null, error: null };
  private readonly _changed = new Signal<this, QueueState>(this);
  private live: LiveEvents | null = null;
  private pending: ReturnType<typeof setTimeout> | null = null;
  /** Emitted after a live event about a request: open review views reload that request. */
  readonly requestChanged = new Signal<this, string>(this);

  constructor(private readonly tab: Title<Widget>) {}

  get state(): QueueState {
    return this._state;
  }

  get changed(): ISignal<this, QueueState> {
    return this._changed;
  }

  private set(change: Partial<QueueState>): void {
    this._state = { ...this._state, ...change };
    const badge = this._state.checker ? badgeText(this._state.items) : '';
    // The tab renders title.dataset as data-* attributes; CSS draws the count from it.
    if (badge) {
      this.tab.dataset = { ...this.tab.dataset, 'trevor-queue': badge };
      this.tab.caption = `Airlock — ${badge} request(s) awaiting your review`;
    } else {
      const rest = { ...this.tab.dataset };
      delete rest['trevor-queue'];
      this.tab.dataset = rest;
      this.tab.caption = 'Airlock';
    }
    this._changed.emit(this._state);
  }

  async start(): Promise<void> {
    let me: UserMe;
    try {
      me = await reviewApi.me();
    } catch {
      // No backend configured (or unreachable): the researcher's panel says so; no review UI.
      return;
    }
    const checker = isChecker(me);
    this.set({ me, checker });
    if (!checker) {
      return;
    }
    await this.reload();
    this.live = new LiveEvents({
      onEvent: ev => {
        if (!affectsQueue(ev.data)) {
          return;
        }
        try {
          const rid = (JSON.parse(ev.data) as { request_id?: string }).request_id;
          if (rid) {
            this.requestChanged.emit(rid);
          }
        } catch {
          // affectsQueue parsed it already
        }
        this.scheduleReload();
      },
      onState: state => {
        if (state === 'live') {
          this.scheduleReload(); // nothing missed between the first load and the stream
        }
      }
    });
    this.live.start();
  }

  /** Several events arrive for one action (submitted, agent done…): one fetch for a burst. */
  private scheduleReload(): void {
    if (this.pending !== null) {
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.reload();
    }, 250);
  }

  async reload(): Promise<void> {
    try {
      this.set({ items: sortQueue(await reviewApi.queue()), error: null });
    } catch (e) {
      this.set({ error: describeError(e) });
    }
  }

  dispose(): void {
    this.live?.stop();
    if (this.pending !== null) {
      clearTimeout(this.pending);
    }
  }
}
