/** Reviews shown in the review view: the checker's own and, once blinding allows, the others'. */
import * as React from 'react';

import type { ObjectOut, ReviewOut } from '../contract.gen';
import type { reviewsToShow } from './blinding';
import { DECISION_LABEL } from './DecisionForm';

function reviewList(reviews: ReviewOut[], objects: ObjectOut[]): JSX.Element {
  const titles = new Map(objects.map(o => [o.id, o.metadata.title || o.filename]));
  return (
    <ul className="trevor-list">
      {reviews.map(r => (
        <li key={r.id} className="trevor-other-review">
          <b>{r.mine ? 'You' : r.reviewer}</b> (revision {r.revision}): {DECISION_LABEL[r.decision]}
          {r.summary ? ` — ${r.summary}` : ''}
          <ul>
            {r.objects.map(d => (
              <li key={d.object_id}>
                {titles.get(d.object_id) ?? `earlier version ${d.object_id}`}: {DECISION_LABEL[d.decision]}
                {d.comment ? ` — “${d.comment}” (${d.visibility})` : ''}
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

export function Submitted({
  shown,
  objects
}: {
  shown: ReturnType<typeof reviewsToShow>;
  objects: ObjectOut[];
}): JSX.Element {
  return (
    <section className="trevor-review-block trevor-submitted" aria-label="Reviews">
      <h4>Your review is in</h4>
      {shown.mine && reviewList([shown.mine], objects)}
      <h4>Other reviews</h4>
      {shown.others.length === 0 ? <p className="trevor-sub">None yet.</p> : reviewList(shown.others, objects)}
    </section>
  );
}

export function EarlierReviews({ reviews, objects }: { reviews: ReviewOut[]; objects: ObjectOut[] }): JSX.Element {
  return (
    <details className="trevor-review-block">
      <summary>Reviews of earlier revisions</summary>
      {reviewList(reviews, objects)}
    </details>
  );
}
