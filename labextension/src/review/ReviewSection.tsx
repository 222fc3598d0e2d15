/**
 * The Review section of the Airlock panel, shown to output checkers only: the requests
 * awaiting their review, oldest first, each opening the split-pane review view.
 */
import * as React from 'react';

import type { ReviewModel, QueueState } from './model';
import { verdictSummary, waitedFor } from './queue';

export function useQueue(model: ReviewModel): QueueState {
  const [state, setState] = React.useState<QueueState>(model.state);
  React.useEffect(() => {
    const onChange = (_: unknown, s: QueueState) => setState(s);
    model.changed.connect(onChange);
    setState(model.state);
    return () => {
      model.changed.disconnect(onChange);
    };
  }, [model]);
  return state;
}

const VERDICT_LABEL = { pass: 'Pass', fail: 'Fail', review: 'Review' } as const;

export function ReviewSection(props: { model: ReviewModel; onOpen: (rid: string) => void }): JSX.Element | null {
  const state = useQueue(props.model);
  if (!state.checker) {
    return null;
  }
  const items = state.items ?? [];
  return (
    <section className="trevor-section trevor-review-queue" aria-labelledby="trevor-review-heading">
      <div className="trevor-section-head">
        <h3 id="trevor-review-heading">
          Review <span className="trevor-count">{items.length}</span>
        </h3>
        <button className="trevor-link" onClick={() => void props.model.reload()}>
          Refresh
        </button>
      </div>
      {state.error && (
        <div className="trevor-notice trevor-notice-error" role="alert">
          {state.error}
        </div>
      )}
      {state.items !== null && items.length === 0 && <p className="trevor-empty">Nothing awaits your review.</p>}
      <ul className="trevor-list" aria-label="Requests awaiting your review">
        {items.map(item => (
          <li key={item.request.id} className="trevor-queue-item">
            <button className="trevor-link trevor-title" onClick={() => props.onOpen(item.request.id)}>
              {item.request.title}
            </button>{' '}
            {item.recommendation && (
              <span
                className={`trevor-badge trevor-verdict-${item.recommendation}`}
                title="The automatic check's recommendation"
              >
                {VERDICT_LABEL[item.recommendation]}
              </span>
            )}
            <div className="trevor-sub">
              {item.request.project} · revision {item.request.revision} · waiting {waitedFor(item)}
              {verdictSummary(item.verdicts) ? ` · ${verdictSummary(item.verdicts)}` : ''} · reviews{' '}
              {item.reviews_received}/{item.reviews_required}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
