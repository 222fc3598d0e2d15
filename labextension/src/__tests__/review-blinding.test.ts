import type { ReviewList, ReviewOut } from '../contract.gen';
import { reviewsToShow } from '../review/blinding';

function review(id: string, revision: number, mine: boolean): ReviewOut {
  return {
    id,
    revision,
    kind: 'human',
    reviewer: mine ? 'carol' : 'dave',
    mine,
    decision: 'approve',
    summary: `summary ${id}`,
    created_at: '2026-01-01T00:00:00Z',
    objects: []
  };
}

function list(items: ReviewOut[]): ReviewList {
  // Cast: the list may carry more members (the contract grows); the view reads only these.
  return { request: 'r', revision: 2, status: 'HUMAN_REVIEW', required_reviews: 2, items } as ReviewList;
}

describe('blinding', () => {
  it('shows nothing of the current round before my own review', () => {
    // Even if another review of the open round reached the client, it is not shown.
    const shown = reviewsToShow(list([review('other', 2, false)]), 2);
    expect(shown).toEqual({ mine: null, others: [] });
  });

  it('shows earlier, decided rounds', () => {
    const shown = reviewsToShow(list([review('old', 1, false), review('old-mine', 1, true)]), 2);
    expect(shown.mine).toBeNull();
    expect(shown.others.map(r => r.id)).toEqual(['old']);
  });

  it('shows the other review of the round once mine is in', () => {
    const shown = reviewsToShow(list([review('mine', 2, true), review('other', 2, false), review('old', 1, false)]), 2);
    expect(shown.mine?.id).toBe('mine');
    expect(shown.others.map(r => r.id)).toEqual(['other', 'old']);
  });

  it('copes with no list', () => {
    expect(reviewsToShow(null, 1)).toEqual({ mine: null, others: [] });
  });
});
