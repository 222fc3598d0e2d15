import type { ReviewQueueItem } from '../contract.gen';
import { affectsQueue, age, badgeText, isChecker, sortQueue, verdictSummary } from '../review/queue';

function item(id: string, submitted: string | null, created = '2026-01-01T00:00:00Z'): ReviewQueueItem {
  return {
    request: {
      id,
      project: 'p1',
      direction: 'egress',
      title: id,
      description: '',
      status: 'HUMAN_REVIEW',
      revision: 1,
      created_by: 'alice',
      created_at: created,
      updated_at: created,
      submitted_at: submitted,
      actions: [],
      objects: []
    },
    recommendation: 'fail',
    verdicts: { pass: 1, fail: 1 },
    reviews_received: 0,
    reviews_required: 2
  };
}

describe('who sees the Review section', () => {
  it('checkers on any project do, researchers only do not', () => {
    expect(isChecker({ memberships: [{ project: 'p1', role: 'researcher' }] })).toBe(false);
    expect(
      isChecker({
        memberships: [
          { project: 'p1', role: 'researcher' },
          { project: 'p2', role: 'output_checker' }
        ]
      })
    ).toBe(true);
    expect(isChecker({ memberships: [{ project: 'p2', role: 'senior_checker' }] })).toBe(true);
    expect(isChecker(null)).toBe(false);
  });
});

describe('queue order', () => {
  it('puts the longest-waiting request first, by submission time', () => {
    const items = [
      item('new', '2026-03-03T00:00:00Z'),
      item('old', '2026-01-01T00:00:00Z'),
      item('mid', '2026-02-02T00:00:00Z')
    ];
    expect(sortQueue(items).map(i => i.request.id)).toEqual(['old', 'mid', 'new']);
    // the input is left alone
    expect(items[0].request.id).toBe('new');
  });

  it('falls back to creation time and breaks ties by id', () => {
    const items = [
      item('b', '2026-01-01T00:00:00Z'),
      item('a', '2026-01-01T00:00:00Z'),
      item('never-submitted', null, '2025-12-01T00:00:00Z')
    ];
    expect(sortQueue(items).map(i => i.request.id)).toEqual(['never-submitted', 'a', 'b']);
  });
});

describe('badge and labels', () => {
  it('counts the queue, empty when nothing waits', () => {
    expect(badgeText(null)).toBe('');
    expect(badgeText([])).toBe('');
    expect(badgeText([item('a', null), item('b', null)])).toBe('2');
    expect(badgeText(Array.from({ length: 120 }, (_, i) => item(String(i), null)))).toBe('99+');
  });

  it('says how long a request has waited', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(age('2026-01-09T23:59:30Z', now)).toBe('just now');
    expect(age('2026-01-09T23:48:00Z', now)).toBe('12 min');
    expect(age('2026-01-09T19:00:00Z', now)).toBe('5 h');
    expect(age('2026-01-07T00:00:00Z', now)).toBe('3 d');
  });

  it('summarises verdicts worst first', () => {
    expect(verdictSummary({ pass: 2, fail: 1, review: 0 })).toBe('1 fail · 2 pass');
    expect(verdictSummary({})).toBe('');
  });
});

describe('live events', () => {
  it('reloads the queue for request events only', () => {
    expect(affectsQueue(JSON.stringify({ type: 'request.submitted', request_id: 'r1' }))).toBe(true);
    expect(affectsQueue(JSON.stringify({ type: 'review.submitted', request_id: 'r1' }))).toBe(true);
    expect(affectsQueue(JSON.stringify({ type: 'notification.created', request_id: 'r1' }))).toBe(false);
    expect(affectsQueue(JSON.stringify({ type: 'user.login' }))).toBe(false);
    expect(affectsQueue('not json')).toBe(false);
  });
});
