/**
 * The checkers' review summaries, shown to the researcher once a round is decided (the backend
 * hides an open round's reviews: blinding), grouped by the revision they decided, newest
 * first. Checkers appear as "checker 1" / "checker 2".
 */
import * as React from 'react';

import type { ReviewOut } from '../contract.gen';
import { When } from './when';

const DECISIONS: Record<string, { label: string; tone: string }> = {
  approve: { label: 'approved', tone: 'ok' },
  changes_requested: { label: 'changes requested', tone: 'warn' },
  reject: { label: 'rejected', tone: 'bad' }
};

export function decisionBadge(decision: string): { label: string; tone: string } {
  return DECISIONS[decision] ?? { label: decision.replace(/_/g, ' '), tone: 'neutral' };
}

/** The round's outcome as the backend decides it: all approve, all reject, else changes. */
export function roundOutcome(reviews: ReviewOut[]): string {
  if (reviews.every(r => r.decision === 'approve')) {
    return 'approve';
  }
  if (reviews.every(r => r.decision === 'reject')) {
    return 'reject';
  }
  return 'changes_requested';
}

export function ReviewSummary({ reviews }: { reviews: ReviewOut[] | null }): JSX.Element | null {
  if (!reviews || reviews.length === 0) {
    return null;
  }
  const rounds = new Map<number, ReviewOut[]>();
  for (const r of reviews) {
    rounds.set(r.revision, [...(rounds.get(r.revision) ?? []), r]);
  }
  const revisions = [...rounds.keys()].sort((a, b) => b - a);
  return (
    <section className="trevor-review-summary" aria-label="Checkers' review">
      {revisions.map(rev => {
        const round = rounds.get(rev) ?? [];
        const outcome = decisionBadge(roundOutcome(round));
        return (
          <div key={rev} className="trevor-review-round">
            <h4>
              Checkers' review of revision {rev}:{' '}
              <span className={`trevor-badge trevor-decision-${outcome.tone}`}>{outcome.label}</span>
            </h4>
            <ul className="trevor-list">
              {round.map(r => {
                const d = decisionBadge(r.decision);
                return (
                  <li key={r.id} className="trevor-review-item">
                    <span className="trevor-title">{r.reviewer}</span>{' '}
                    <span className={`trevor-badge trevor-decision-${d.tone}`}>{d.label}</span>{' '}
                    <When iso={r.created_at} />
                    {r.summary && <p className="trevor-review-text">{r.summary}</p>}
                  </li>
                );
              })}
            </ul>
          </div>
        );
      })}
    </section>
  );
}
