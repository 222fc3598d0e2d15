/**
 * The checker's review queue: who sees the Review section, the order of the queue, the tab
 * badge, and which live events change the queue. Pure (no JupyterLab imports) so jest tests it.
 */
import type { MembershipOut, ReviewQueueItem, UserMe } from '../contract.gen';

const CHECKER_ROLES: ReadonlyArray<MembershipOut['role']> = ['output_checker', 'senior_checker'];

/** A checker on at least one project sees the Review section; a researcher only, none. */
export function isChecker(me: Pick<UserMe, 'memberships'> | null | undefined): boolean {
  return (me?.memberships ?? []).some(m => CHECKER_ROLES.includes(m.role));
}

function waitingSince(item: ReviewQueueItem): string {
  return item.request.submitted_at ?? item.request.created_at;
}

/** Oldest first (the request that has waited longest is reviewed first); ties by id. */
export function sortQueue(items: ReviewQueueItem[]): ReviewQueueItem[] {
  return [...items].sort((a, b) => {
    const ta = Date.parse(waitingSince(a));
    const tb = Date.parse(waitingSince(b));
    if (ta !== tb) {
      return ta - tb;
    }
    return a.request.id < b.request.id ? -1 : a.request.id > b.request.id ? 1 : 0;
  });
}

/** The badge on the panel's tab: the number awaiting review, nothing when none. */
export function badgeText(items: ReviewQueueItem[] | null): string {
  if (!items || items.length === 0) {
    return '';
  }
  return items.length > 99 ? '99+' : String(items.length);
}

/** How long a request has waited, for the queue ("3 d", "5 h", "12 min", "just now"). */
export function age(iso: string, now: number = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms) || ms < 60_000) {
    return 'just now';
  }
  const min = Math.floor(ms / 60_000);
  if (min < 60) {
    return `${min} min`;
  }
  const h = Math.floor(min / 60);
  if (h < 48) {
    return `${h} h`;
  }
  return `${Math.floor(h / 24)} d`;
}

export function waitedFor(item: ReviewQueueItem, now: number = Date.now()): string {
  return age(waitingSince(item), now);
}

/** "2 pass · 1 fail" from the agent's verdict counts, in a fixed order. */
export function verdictSummary(verdicts: Record<string, number> | undefined): string {
  const order = ['fail', 'review', 'pass'];
  return order
    .filter(k => (verdicts?.[k] ?? 0) > 0)
    .map(k => `${verdicts![k]} ${k}`)
    .join(' · ');
}

/**
 * Whether a live event may change the caller's queue. The event stream carries audit events
 * visible to the caller; anything about a request (submitted, agent done, a review in,
 * withdrawn, decided) can add or remove a queue entry, so the queue is fetched again.
 */
export function affectsQueue(data: string): boolean {
  try {
    const payload = JSON.parse(data) as { type?: unknown; request_id?: unknown; request?: unknown };
    const type = typeof payload.type === 'string' ? payload.type : '';
    if (type.startsWith('notification.') || type.startsWith('delivery.')) {
      return false;
    }
    return typeof payload.request_id === 'string' || typeof payload.request === 'object';
  } catch {
    return false;
  }
}
