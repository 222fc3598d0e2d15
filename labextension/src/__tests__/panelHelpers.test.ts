import type { ReviewOut } from '../contract.gen';
import { inlineMarkdown } from '../panel/markdown';
import { decisionBadge, roundOutcome } from '../panel/ReviewSummary';
import { relativeTime } from '../panel/when';

const review = (decision: string): ReviewOut =>
  ({
    id: decision,
    revision: 1,
    kind: 'human',
    reviewer: 'checker 1',
    mine: false,
    decision,
    summary: '',
    created_at: '',
    objects: []
  }) as unknown as ReviewOut;

describe('review summary', () => {
  it('decides a round as the backend does', () => {
    expect(roundOutcome([review('approve'), review('approve')])).toBe('approve');
    expect(roundOutcome([review('reject'), review('reject')])).toBe('reject');
    expect(roundOutcome([review('approve'), review('reject')])).toBe('changes_requested');
    expect(roundOutcome([review('changes_requested'), review('approve')])).toBe('changes_requested');
  });
  it('never shows an approval in the colour of a change request', () => {
    expect(decisionBadge('approve').tone).toBe('ok');
    expect(decisionBadge('changes_requested').tone).toBe('warn');
    expect(decisionBadge('reject').tone).toBe('bad');
  });
});

describe('human times', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  it('says how long ago, in words', () => {
    expect(relativeTime('2026-01-10T10:00:00Z', now)).toMatch(/2 hours ago/);
    expect(relativeTime('2026-01-10T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-01-13T12:00:00Z', now)).toMatch(/in 3 days/);
    expect(relativeTime('not a date', now)).toBe('not a date');
  });
});

describe('guidance markdown', () => {
  it('renders code and bold as elements, never as HTML', () => {
    const parts = inlineMarkdown('Every cell must count at least `threshold` **units** <b>x</b>');
    const tags = parts.map(p => (typeof p === 'string' ? 'text' : (p as { type: string }).type));
    expect(tags).toEqual(['text', 'code', 'text', 'strong', 'text']);
    expect(parts[parts.length - 1]).toBe(' <b>x</b>');
  });
});
